/**
 * GitOps with Argo CD: the InferenceMonitoring health check passes Argo CD's
 * health_test.yaml cases under a real Lua 5.1 interpreter (Argo CD runs a Lua
 * 5.1 VM), and the Application and plugin examples validate against Argo CD's
 * CRDs and Kubernetes' schemas.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { manifestSchemaErrors } from '../harness/manifest-schemas';

const DIR = path.resolve(__dirname, '..', '..', 'gitops', 'argocd');
const HEALTH = path.join(DIR, 'health');

/** A JSON value as a Lua table constructor. */
export function luaLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  if (Array.isArray(v)) return `{${v.map(luaLiteral).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${luaLiteral(k)}] = ${luaLiteral(x)}`).join(', ')}}`;
}

function runHealth(obj: unknown): { status: string; message: string } {
  const script = `obj = ${luaLiteral(obj)}\nlocal hs = assert(loadfile(${luaLiteral(path.join(HEALTH, 'health.lua'))}))()\nio.write(hs.status, "\\n", hs.message or "")`;
  const r = spawnSync('lua5.1', ['-'], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lua5.1 failed: ${r.stderr}`);
  const [status, ...message] = r.stdout.split('\n');
  return { status, message: message.join('\n') };
}

const haveLua = spawnSync('lua5.1', ['-v']).status === 0;
if (!haveLua && process.env.CI) throw new Error('lua5.1 missing: run tools/setup.sh');

(haveLua ? describe : describe.skip)('Argo CD health check under lua5.1', () => {
  const cases = parse(fs.readFileSync(path.join(HEALTH, 'health_test.yaml'), 'utf8')).tests as Array<{ healthStatus: { status: string; message: string }; inputPath: string }>;
  test.each(cases.map((c) => [c.inputPath, c]))('%s', (_p, c) => {
    const obj = parse(fs.readFileSync(path.join(HEALTH, c.inputPath), 'utf8'));
    expect(runHealth(obj)).toEqual(c.healthStatus);
  });

  test('the argocd-cm customization carries exactly this script', () => {
    const cm = parse(fs.readFileSync(path.join(DIR, 'argocd-cm-health.yaml'), 'utf8'));
    expect(cm.data['resource.customizations.health.monitoring.inference.dev_InferenceMonitoring']).toBe(fs.readFileSync(path.join(HEALTH, 'health.lua'), 'utf8'));
  });
});

describe('Argo CD manifests', () => {
  test('the Applications validate against the Argo CD v3.6 CRD and sync with server-side apply', () => {
    const apps = parseAllDocuments(fs.readFileSync(path.join(DIR, 'application.yaml'), 'utf8')).map((d) => d.toJSON());
    expect(apps).toHaveLength(2);
    for (const a of apps) {
      expect(manifestSchemaErrors(a)).toEqual([]);
      expect(a.spec.syncPolicy.syncOptions).toContain('ServerSideApply=true');
    }
    expect(apps[1].spec.syncPolicy.syncOptions).toContain('SkipDryRunOnMissingResource=true');
  });

  test('the CRD and namespaces sync first (wave -1)', () => {
    const cluster = parseAllDocuments(fs.readFileSync(path.resolve(__dirname, '..', '..', 'dist', '0-cluster.k8s.yaml'), 'utf8')).map((d) => d.toJSON());
    expect(cluster.map((o) => [o.kind, o.metadata.annotations?.['argocd.argoproj.io/sync-wave']])).toEqual([['CustomResourceDefinition', '-1'], ['Namespace', '-1'], ['Namespace', '-1']]);
  });

  test('the plugin ConfigMap is valid and its generate command is `inference-monitoring render`', () => {
    const cm = parse(fs.readFileSync(path.join(DIR, 'cmp-plugin.yaml'), 'utf8'));
    expect(manifestSchemaErrors(cm)).toEqual([]);
    const plugin = parse(cm.data['plugin.yaml']);
    expect(plugin).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'ConfigManagementPlugin', spec: { discover: { fileName: './inference-monitoring.yaml' } } });
    // The controller image is distroless: no shell, Node and the CLI by absolute path (the Dockerfile's layout).
    expect(plugin.spec.generate).toEqual({ command: ['/nodejs/bin/node', '/app/bin/inference-monitoring.js', 'render'], args: ['-f', 'inference-monitoring.yaml'] });
  });

  test('the repo-server patch adds the sidecar in the image the Dockerfile builds, mounting the plugin config', () => {
    const patch = parse(fs.readFileSync(path.join(DIR, 'repo-server-cmp-patch.yaml'), 'utf8'));
    expect(patch).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'argocd-repo-server', namespace: 'argocd' } });
    const [sidecar] = patch.spec.template.spec.containers;
    const dockerfile = fs.readFileSync(path.resolve(__dirname, '..', '..', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`docker build -t ${sidecar.image} .`);
    expect(dockerfile).toContain('ENTRYPOINT ["/nodejs/bin/node", "bin/inference-monitoring.js"]');
    expect(sidecar.volumeMounts).toContainEqual({ name: 'inference-monitoring-cmp', mountPath: '/home/argocd/cmp-server/config/plugin.yaml', subPath: 'plugin.yaml' });
  });
});
