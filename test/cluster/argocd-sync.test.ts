/**
 * Our Argo CD Applications synced and deleted by Argo CD's own code on a real kube-apiserver that has no
 * prometheus-operator CRDs (as a cluster without kube-prometheus-stack): tools/argocd-sync runs gitops-engine v3.6.1
 * (the sync engine of Argo CD v3.6.1: task validation, waves, dry run, server-side apply, CreateNamespace) with the
 * options Argo CD's controller passes for each Application's syncOptions, and its cascade deletion with the
 * controller's rules (see tools/argocd-sync/main.go for what is called and what is copied, with file:line).
 * kube-controller-manager runs too: namespace deletion and foreground deletion wait on it, as in a cluster.
 *
 * Also plain `kubectl apply --server-side`: the required files apply there, the optional one fails clearly.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { argocdSyncBin, REPO } from '../harness/binaries';
import { ControlPlane, haveK8sBinaries, startControlPlane } from '../harness/control-plane';
import { applicationObjects, applications, K8sObject } from '../harness/argocd-rules';

const BIN = argocdSyncBin();
const runIf = haveK8sBinaries() && BIN ? describe : describe.skip;

interface SyncResult { phase: string; message: string; resources: Array<{ group: string; kind: string; namespace: string; name: string; status: string; message: string; order: number }> }
interface DeleteResult { deleted: string[]; kept: string[] }

const [required, team] = applications('application.yaml');
const [optional] = applications('controller-monitoring-application.yaml');
const [plugin] = applications('plugin-application.yaml');
const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

runIf(BIN ? 'Argo CD v3.6.1\'s sync code on a kube-apiserver without prometheus-operator\'s CRDs' : 'Argo CD sync code: SKIPPED, tools/argocd-sync not built (tools/build-argocd-sync.sh)', () => {
  let cp: ControlPlane;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-argocd-'));
  beforeAll(async () => { cp = await startControlPlane({ nodes: [] }); }, 180_000);
  afterAll(async () => { await cp?.stop(); fs.rmSync(tmp, { recursive: true, force: true }); });

  const run = (args: string[]) => {
    const r = spawnSync(BIN!, args, { encoding: 'utf8', timeout: 200_000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`argocd-sync ${args[0]}: ${r.status} ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  /** Syncs the objects as the Application `name` with the Application's destination namespace and syncOptions. */
  const sync = (app: any, objects: K8sObject[], name: string = app.metadata.name): SyncResult => {
    const file = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    return run(['sync', '--kubeconfig', cp.kubeconfig, '--app', name, '--dest-namespace', app.spec.destination.namespace ?? '',
      ...(app.spec.syncPolicy.syncOptions as string[]).flatMap((o) => ['--sync-option', o]), file]);
  };
  const cascadeDelete = (app: any): DeleteResult => run(['delete', '--kubeconfig', cp.kubeconfig, '--app', app.metadata.name, '--timeout', '150s',
    ...(app.spec.syncPolicy.syncOptions as string[]).flatMap((o) => ['--sync-option', o])]);
  const get = (p: string) => cp.request('GET', p);

  test('the cluster serves no monitoring.coreos.com API', async () => {
    expect((await get('/apis/monitoring.coreos.com/v1')).status).toBe(404);
  });

  test('as before (the ServiceMonitor and PrometheusRule in the install\'s Application), the whole sync fails and nothing is applied, wave -1 included', async () => {
    const before = [...applicationObjects(required), ...applicationObjects(optional)];
    const out = sync(required, before, 'inference-monitoring-as-before');
    console.log(`[argocd] as before: ${out.phase}: ${out.message}`);
    expect(out.phase).toBe('Failed');
    expect(out.message).toMatch(/^one or more synchronization tasks are not valid: /);
    expect(out.resources.filter((r) => r.status === 'SyncFailed').map((r) => r.kind).sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
    expect((await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferencemonitorings.monitoring.inference.dev')).status).toBe(404);
    expect((await get('/api/v1/namespaces/inference-monitoring-system')).status).toBe(404);
  }, 200_000);

  test('the required Application (dist/0 and dist/1) syncs: Succeeded, every object Synced, the CRD and the controller\'s namespace first (wave -1)', async () => {
    const objects = applicationObjects(required);
    const out = sync(required, objects);
    expect({ phase: out.phase, message: out.message }).toEqual({ phase: 'Succeeded', message: 'successfully synced (all tasks run)' });
    expect(out.resources.map((r) => `${r.kind}/${r.namespace}/${r.name}`).sort()).toEqual(objects.map(key).sort());
    expect(out.resources.filter((r) => r.status !== 'Synced')).toEqual([]);
    expect(out.resources.slice(0, 2).map((r) => r.kind).sort()).toEqual(['CustomResourceDefinition', 'Namespace']);
    const crd = (await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferencemonitorings.monitoring.inference.dev')).body;
    expect(crd.status.conditions.find((c: any) => c.type === 'Established').status).toBe('True');
    expect(crd.metadata.annotations['argocd.argoproj.io/tracking-id']).toBe('inference-monitoring:apiextensions.k8s.io/CustomResourceDefinition:/inferencemonitorings.monitoring.inference.dev');
  }, 200_000);

  test('the optional Application (dist/3) fails alone, before applying anything, naming the missing API; the install is untouched', async () => {
    const out = sync(optional, applicationObjects(optional));
    console.log(`[argocd] optional: ${out.phase}: ${out.message}`);
    expect(out.phase).toBe('Failed');
    expect(out.message).toMatch(/^one or more synchronization tasks are not valid: .*monitoring\.coreos\.com\/v1/);
    expect(out.resources.map((r) => `${r.kind}:${r.status}`).sort()).toEqual(['PrometheusRule:SyncFailed', 'ServiceMonitor:SyncFailed']);
    expect((await get('/apis/apps/v1/namespaces/inference-monitoring-system/deployments/inference-monitoring-controller')).status).toBe(200);
    // The objects say why they are optional.
    for (const o of applicationObjects(optional)) expect(o.metadata.annotations?.['monitoring.inference.dev/optional']).toMatch(/prometheus-operator CRDs/);
  }, 200_000);

  test('kubectl apply --server-side: dist/0 and dist/1 apply; dist/3 fails, saying the CRDs are missing', async () => {
    for (const f of ['0-cluster.k8s.yaml', '1-controller.k8s.yaml']) {
      const out = await cp.kubectl(['apply', '--server-side', '-f', path.join(REPO, 'dist', f)]);
      expect({ file: f, code: out.code, stderr: out.stderr }).toEqual({ file: f, code: 0, stderr: '' });
    }
    const out = await cp.kubectl(['apply', '--server-side', '-f', path.join(REPO, 'dist', '3-controller-monitoring.k8s.yaml')]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"');
    expect(out.stderr).toContain('no matches for kind "PrometheusRule" in version "monitoring.coreos.com/v1"');
    expect(out.stderr).toContain('ensure CRDs are installed first');
  }, 60_000);

  test('the team Application creates its namespace (CreateNamespace=true) without tracking it, and syncs the InferenceMonitoring', async () => {
    const out = sync(team, applicationObjects(team));
    expect({ phase: out.phase, message: out.message }).toEqual({ phase: 'Succeeded', message: 'successfully synced (all tasks run)' });
    expect(out.resources.map((r) => `${r.kind}/${r.namespace}/${r.name}:${r.status}`)).toEqual(['Namespace//llm:Synced', 'InferenceMonitoring/llm/demo:Synced']);
    const ns = (await get('/api/v1/namespaces/llm')).body;
    expect(ns.metadata.annotations?.['argocd.argoproj.io/tracking-id']).toBeUndefined();
    // A workload of the team's that no Application knows of.
    expect((await cp.kubectl(['-n', 'llm', 'create', 'configmap', 'team-notes', '--from-literal=a=b'])).code).toBe(0);
  }, 200_000);

  test('the plugin Application syncs the rendered stack (only built-in kinds) into the team namespace', async () => {
    const objects = applicationObjects(plugin);
    const out = sync(plugin, objects);
    expect({ phase: out.phase, message: out.message }).toEqual({ phase: 'Succeeded', message: 'successfully synced (all tasks run)' });
    expect(out.resources.filter((r) => r.kind !== 'Namespace').map((r) => `${r.kind}/${r.namespace}/${r.name}`).sort()).toEqual(objects.map(key).sort());
    expect(out.resources.filter((r) => r.status !== 'Synced')).toEqual([]);
  }, 200_000);

  test('cascade deletion of the required Application deletes the controller and its own namespace, never the CRD, the team namespace or what is in it', async () => {
    const out = cascadeDelete(required);
    const objects = applicationObjects(required);
    expect(out.kept).toEqual(['CustomResourceDefinition//inferencemonitorings.monitoring.inference.dev']);
    expect(out.deleted.sort()).toEqual(objects.filter((o) => o.kind !== 'CustomResourceDefinition').map(key).sort());
    expect((await get('/api/v1/namespaces/inference-monitoring-system')).status).toBe(404);
    expect((await get('/api/v1/namespaces/llm')).body.status.phase).toBe('Active');
    expect((await get('/api/v1/namespaces/llm/configmaps/team-notes')).status).toBe(200);
    expect((await get('/apis/monitoring.inference.dev/v1alpha1/namespaces/llm/inferencemonitorings/demo')).status).toBe(200);
  }, 200_000);

  test('cascade deletion of the team Applications deletes what they synced and leaves the namespace and the team\'s own objects', async () => {
    const rendered = cascadeDelete(plugin);
    expect(rendered.deleted.sort()).toEqual(applicationObjects(plugin).map(key).sort());
    const resources = cascadeDelete(team);
    expect(resources).toEqual({ deleted: ['InferenceMonitoring/llm/demo'], kept: [] });
    expect((await get('/api/v1/namespaces/llm')).body.status.phase).toBe('Active');
    expect((await get('/api/v1/namespaces/llm/configmaps/team-notes')).status).toBe(200);
  }, 400_000);
});
