/**
 * Pod Security Admission on a real kube-apiserver: the monitoring stack goes
 * into a namespace that enforces `restricted` with no warning; GPU inference
 * workloads into one that enforces `baseline`; only the DCGM exporter needs
 * `privileged` (its hostPath), as documented.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { renderManifests } from '../../src/render';
import { ControlPlane, haveK8sBinaries, startControlPlane } from '../harness/control-plane';

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('Pod Security Admission', () => {
  let cp: ControlPlane;
  beforeAll(async () => { cp = await startControlPlane(); }, 120_000);
  afterAll(async () => { await cp?.stop(); });

  async function namespace(name: string, level: string): Promise<void> {
    const labels = Object.fromEntries(['enforce', 'warn', 'audit'].map((m) => [`pod-security.kubernetes.io/${m}`, level]));
    const r = await cp.request('PATCH', `/api/v1/namespaces/${name}?fieldManager=test`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'application/apply-patch+yaml');
    expect(r.status).toBeLessThan(300);
  }

  async function applyDryRun(objs: any[]): Promise<{ code: number; stderr: string }> {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cim-psa-')), 'objs.yaml');
    fs.writeFileSync(file, Yaml.stringify(...objs));
    const r = await cp.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=test', '-f', file]);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    return r;
  }

  const stack = (ns: string) => renderManifests({ name: 'demo', namespace: ns, spec: {
    models: [{ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } }, { name: 'llama', model: 'x/y', engine: 'vllm' }],
  } });
  const component = (o: any) => o.metadata.labels?.['app.kubernetes.io/component'];

  test('the monitoring stack (Prometheus, Tempo, Grafana, Alertmanager and their config) is accepted under "restricted" without warnings', async () => {
    await namespace('mon-restricted', 'restricted');
    const objs = stack('mon-restricted').filter((o) => !['inference', 'gpu-metrics'].includes(component(o)));
    expect(objs.filter((o) => o.spec?.template).map((o) => o.metadata.name).sort()).toEqual(['demo-alertmanager', 'demo-grafana', 'demo-prometheus', 'demo-tempo']);
    const r = await applyDryRun(objs);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('GPU inference workloads are accepted under "baseline" without warnings, and draw a warning under "restricted"', async () => {
    await namespace('gpu-baseline', 'baseline');
    const ok = await applyDryRun(stack('gpu-baseline').filter((o) => component(o) === 'inference'));
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    await namespace('gpu-restricted', 'restricted');
    const warned = await applyDryRun(stack('gpu-restricted').filter((o) => component(o) === 'inference' && o.kind === 'Deployment'));
    expect(warned.stderr).toMatch(/Warning: would violate PodSecurity "restricted:latest"/);
  });

  test('the DCGM exporter is the one workload that needs "privileged" (hostPath to the kubelet)', async () => {
    await namespace('gpu-baseline-2', 'baseline');
    const r = await applyDryRun(stack('gpu-baseline-2').filter((o) => component(o) === 'gpu-metrics'));
    expect(r.stderr).toMatch(/Warning: would violate PodSecurity "baseline:latest": hostPath volumes/);
  });
});
