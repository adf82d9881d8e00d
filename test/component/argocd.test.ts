/**
 * GitOps with Argo CD: the InferenceMonitoring health check passes Argo CD's
 * health_test.yaml cases under a real Lua 5.1 interpreter (Argo CD runs a Lua
 * 5.1 VM), and the Application and plugin examples validate against Argo CD's
 * CRDs and Kubernetes' schemas. Argo CD v3.6.1's sync and deletion rules
 * (test/harness/argocd-rules.ts, each with the file:line it follows) applied to
 * what each Application syncs: the required one needs no CRD it does not
 * install, no Application owns a team namespace, CRDs and namespaces sync
 * before what needs them. test/cluster/argocd-sync.test.ts runs Argo CD's code.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { isBuiltinKind, manifestSchemaErrors } from '../harness/manifest-schemas';
import { applicationObjects, applications, invalidTasks, isCrd, K8sObject, mayPrune, shouldBeDeleted, SYNC_WAVE, syncOrder } from '../harness/argocd-rules';
import { DEFAULT_CONTROLLER_NAMESPACE } from '../../src/install/install-manifests';
import { EXAMPLE_NAMESPACE } from '../../charts/example';

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

const [required, team] = applications('application.yaml');
const [optional] = applications('controller-monitoring-application.yaml');
const [plugin] = applications('plugin-application.yaml');
const ALL = [required, team, optional, plugin];
const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
/** What the kube-apiserver serves before any CRD is installed: Kubernetes' own kinds. */
const servedWithoutCrds = isBuiltinKind;

describe('Argo CD manifests', () => {
  test('the Applications validate against the Argo CD v3.6 CRD and sync with server-side apply', () => {
    expect(ALL.map((a) => a.metadata.name)).toEqual(['inference-monitoring', 'llm-serving', 'inference-monitoring-controller-monitoring', 'llm-serving-rendered']);
    for (const a of ALL) {
      expect(manifestSchemaErrors(a)).toEqual([]);
      expect(a.spec.syncPolicy.syncOptions).toContain('ServerSideApply=true');
    }
    expect(team.spec.syncPolicy.syncOptions).toContain('SkipDryRunOnMissingResource=true');
  });

  test('the CRD and the controller\'s namespace sync first (wave -1); no team namespace in dist/0', () => {
    const cluster = parseAllDocuments(fs.readFileSync(path.resolve(__dirname, '..', '..', 'dist', '0-cluster.k8s.yaml'), 'utf8')).map((d) => d.toJSON());
    expect(cluster.map((o) => [o.kind, o.metadata.name, o.metadata.annotations?.[SYNC_WAVE]])).toEqual([
      ['CustomResourceDefinition', 'inferencemonitorings.monitoring.inference.dev', '-1'], ['Namespace', DEFAULT_CONTROLLER_NAMESPACE, '-1']]);
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

describe('Argo CD v3.6.1\'s rules (test/harness/argocd-rules.ts) over what each Application syncs', () => {
  const objects = new Map<any, K8sObject[]>(ALL.map((a) => [a, applicationObjects(a)]));

  test('the ports follow Argo CD\'s own cases (gitops-engine pkg/sync/sync_tasks_test.go:349-462)', () => {
    const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'workflows.argoproj.io', annotations: { [SYNC_WAVE]: '5' } }, spec: { group: 'argoproj.io', names: { kind: 'Workflow' } } };
    const cr = { apiVersion: 'argoproj.io/v1', kind: 'Workflow', metadata: { name: 'w', namespace: 'ns1' } };
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1', annotations: { [SYNC_WAVE]: '1' } } };
    // TestSyncTasksSort_CRDAndCR, TestSyncTasksSort_NamespaceAndObjectInNamespace: dependencies move before, into the dependant's wave.
    expect(syncOrder([cr, crd]).map((t) => [t.obj.kind, t.wave])).toEqual([['CustomResourceDefinition', 0], ['Workflow', 0]]);
    expect(syncOrder([cr, crd, ns]).map((t) => [t.obj.kind, t.wave])).toEqual([['Namespace', 0], ['CustomResourceDefinition', 0], ['Workflow', 0]]);
    // TestSyncNamespaceAgainstCRD: a Namespace before a custom resource of the same wave.
    expect(syncOrder([{ ...cr, metadata: { name: 'w' } }, { ...ns, metadata: { name: 'ns1' } }]).map((t) => t.obj.kind)).toEqual(['Namespace', 'Workflow']);
    const app = { spec: { syncPolicy: { syncOptions: [] } } };
    expect(invalidTasks(app, [cr], servedWithoutCrds)).toEqual([cr]);
    expect(invalidTasks(app, [cr, crd], servedWithoutCrds)).toEqual([]);
    expect(invalidTasks({ spec: { syncPolicy: { syncOptions: ['SkipDryRunOnMissingResource=true'] } } }, [cr], servedWithoutCrds)).toEqual([]);
    expect(shouldBeDeleted(app, crd)).toBe(false);
    expect(shouldBeDeleted(app, { ...ns, metadata: { name: 'ns1', annotations: { 'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false' } } })).toBe(false);
    expect(shouldBeDeleted(app, ns)).toBe(true);
  });

  test('no hooks: every object is a plain Sync-phase task (the ports leave hook phases out)', () => {
    for (const os of objects.values()) for (const o of os) expect(Object.keys(o.metadata.annotations ?? {}).filter((k) => /hook/.test(k))).toEqual([]);
  });

  test('the required Application needs no CRD it does not install: every kind is Kubernetes\' own or its CRD is in the same sync (getSyncTasks, sync_context.go:1085-1130)', () => {
    expect(invalidTasks(required, objects.get(required)!, servedWithoutCrds)).toEqual([]);
    // The only CRD it installs is ours, and the objects are the install's: dist/0 and dist/1.
    expect(objects.get(required)!.filter(isCrd).map((o) => o.metadata.name)).toEqual(['inferencemonitorings.monitoring.inference.dev']);
  });

  test('as before (monitoring objects in the install), one invalid task failed the whole sync: the ServiceMonitor and PrometheusRule', () => {
    const before = [...objects.get(required)!, ...objects.get(optional)!];
    expect(invalidTasks(required, before, servedWithoutCrds).map((o) => o.kind)).toEqual(['ServiceMonitor', 'PrometheusRule']);
  });

  test('the optional Application holds exactly the objects that need prometheus-operator\'s CRDs, each saying so', () => {
    const os = objects.get(optional)!;
    expect(invalidTasks(optional, os, servedWithoutCrds)).toEqual(os);
    expect(os.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['monitoring.coreos.com/v1 ServiceMonitor', 'monitoring.coreos.com/v1 PrometheusRule']);
    for (const o of os) expect(o.metadata.annotations?.['monitoring.inference.dev/optional']).toMatch(/^needs the prometheus-operator CRDs/);
    // Its own comment states the reason and the consequence.
    expect(fs.readFileSync(path.join(DIR, 'controller-monitoring-application.yaml'), 'utf8')).toMatch(/Create this Application only on clusters that run prometheus-operator/);
  });

  test('the plugin Application syncs the rendered stack, only Kubernetes\' own kinds, from the plugin cmp-plugin.yaml defines', () => {
    const os = objects.get(plugin)!;
    expect(os.length).toBeGreaterThan(20);
    expect(invalidTasks(plugin, os, servedWithoutCrds)).toEqual([]);
    // All of it in the team namespace the Application creates.
    expect(os.filter((o) => o.metadata.namespace !== EXAMPLE_NAMESPACE)).toEqual([]);
  });

  test('the team Application\'s InferenceMonitoring needs the CRD the required Application installs: dry run skipped until then, and retried', () => {
    const os = objects.get(team)!;
    expect(invalidTasks({ spec: { syncPolicy: { syncOptions: [] } } }, os, servedWithoutCrds).map((o) => o.kind)).toEqual(['InferenceMonitoring']);
    expect(invalidTasks(team, os, servedWithoutCrds)).toEqual([]);
    const crd = objects.get(required)!.find(isCrd)!;
    expect(os.every((o) => o.apiVersion.startsWith(`${crd.spec.group}/`) && o.kind === crd.spec.names.kind)).toBe(true);
    expect(team.spec.syncPolicy.retry.limit).toBeGreaterThan(0);
  });

  test('no Application owns a team namespace: the team Applications create theirs with CreateNamespace=true, which Argo CD never tracks (sync_namespace.go:38-42), so never prunes or deletes', () => {
    for (const a of ALL) {
      const namespaces = objects.get(a)!.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
      expect({ app: a.metadata.name, namespaces }).toEqual({ app: a.metadata.name, namespaces: a === required ? [DEFAULT_CONTROLLER_NAMESPACE] : [] });
    }
    for (const a of [team, plugin]) {
      expect(a.spec.destination.namespace).toBe(EXAMPLE_NAMESPACE);
      expect(a.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
      expect(a.spec.syncPolicy.managedNamespaceMetadata).toBeUndefined();
    }
    // The cluster-wide Applications put nothing into a team namespace.
    for (const a of [required, optional]) expect(objects.get(a)!.filter((o) => o.metadata.namespace && o.metadata.namespace !== DEFAULT_CONTROLLER_NAMESPACE)).toEqual([]);
  });

  test('cascade deletion of the required Application (appcontroller.go:1321-1330, 1419-1478) deletes all but the CRD: the controller and its own namespace, which holds only the install', () => {
    const os = objects.get(required)!;
    expect(os.filter((o) => !shouldBeDeleted(required, o)).map(key)).toEqual(['CustomResourceDefinition//inferencemonitorings.monitoring.inference.dev']);
    expect(os.filter((o) => shouldBeDeleted(required, o) && o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual([DEFAULT_CONTROLLER_NAMESPACE]);
    for (const o of os) expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('inference-monitoring');
    // Pruning everything it synced is allowed: nothing of a team's is among it.
    expect(os.every((o) => mayPrune(required, o))).toBe(true);
  });

  test('every Application syncs CRDs before their instances and namespaces before what is in them (sync_tasks.go:86-177), in the waves we set', () => {
    for (const [a, os] of [...objects.entries(), [required, [...objects.get(required)!, ...objects.get(team)!]] as [any, K8sObject[]]]) {
      const order = syncOrder(os);
      const index = (pred: (o: K8sObject) => boolean) => order.findIndex((t) => pred(t.obj));
      for (const [i, t] of order.entries()) {
        const crd = index((o) => isCrd(o) && o.spec.group === t.obj.apiVersion.split('/')[0] && o.spec.names.kind === t.obj.kind);
        if (crd >= 0) expect({ app: a.metadata.name, obj: key(t.obj), before: crd < i, wave: order[crd].wave <= t.wave }).toEqual({ app: a.metadata.name, obj: key(t.obj), before: true, wave: true });
        const ns = index((o) => o.kind === 'Namespace' && o.metadata.name === t.obj.metadata.namespace);
        if (ns >= 0) expect({ app: a.metadata.name, obj: key(t.obj), before: ns < i }).toEqual({ app: a.metadata.name, obj: key(t.obj), before: true });
      }
    }
    // Our waves: the CRD and the namespace at -1, the rest at 0, so they are in place (and Established) first.
    expect(syncOrder(objects.get(required)!).map((t) => `${t.wave} ${t.obj.kind}`).slice(0, 3)).toEqual(['-1 Namespace', '-1 CustomResourceDefinition', '0 NetworkPolicy']);
  });
});
