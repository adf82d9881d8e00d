/**
 * What the controller does with a resource it cannot render, and with a status longer than the CRD
 * allows, on a real apiserver with the real controller. The resources are stored under a CRD without
 * the URL checks (as under an older CRD, or one not yet upgraded): the controller must be safe
 * whatever admission let through. Never a throw retried for ever: `Degraded` with the field path, for
 * the resource's generation, one Event, and nothing more until the spec changes.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { MAX_CONDITION_MESSAGE_BYTES } from '../../src/controller/conditions';
import { Controller } from '../../src/controller/manager';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, kindOf, resourcePath } from '../../src/controller/resources';
import { renderManifests } from '../../src/render';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from '../harness/control-plane';
import { waitFor as poll } from '../harness/wait';
import type { InferenceMonitoringSpecInput, ModelInput } from '../../src/api/spec-input';

const NS = 'tenant';
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) => poll(what, check, timeoutMs, 250);
const model = (name: string): ModelInput => ({ name, model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' });
const slim = { grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } };

/** The CRD with every check of a `url` field removed (pattern, format, CEL rules that read a URL). */
function crdWithoutUrlChecks(): any {
  const crd = JSON.parse(JSON.stringify(inferenceMonitoringCrd()));
  const strip = (s: any): void => {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(s['x-kubernetes-validations'])) {
      s['x-kubernetes-validations'] = s['x-kubernetes-validations'].filter((r: any) => !/url|port/i.test(`${r.rule} ${r.fieldPath ?? ''} ${r.message ?? ''}`));
      if (!s['x-kubernetes-validations'].length) delete s['x-kubernetes-validations'];
    }
    for (const [k, v] of Object.entries<any>(s.properties ?? {})) {
      if (/url$/i.test(k) && v?.type === 'string') { delete v.pattern; delete v.format; }
      strip(v);
    }
    strip(s.items);
    strip(s.additionalProperties);
  };
  for (const v of crd.spec.versions) strip(v.schema.openAPIV3Schema.properties.spec);
  return crd;
}

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('specs that cannot be rendered and long statuses, on a real apiserver with the real controller', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller;
  const cr = (name: string) => api.get(INFERENCE_MONITORING, NS, name);
  const create = (name: string, spec: unknown) => api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec });
  const condition = async (name: string, type: string) => ((await cr(name))?.status?.conditions ?? []).find((c: any) => c.type === type);
  const reconciles = async (name: string, result: string) => {
    const m = await controller.registry.getSingleMetric('inference_monitoring_resource_reconcile_total')!.get();
    return m.values.filter((v) => v.labels.resource_name === name && v.labels.result === result).reduce((a, v) => a + v.value, 0);
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    await installCrd(cp, crdWithoutUrlChecks());
    await installPrometheusOperatorCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    controller = new Controller({ api: new KubeApi(kc), resyncMs: 1000, log: (msg, f) => { if (process.env.CIM_DEBUG) console.log(msg, JSON.stringify(f)); } });
    await controller.start();
  }, 180_000);
  afterAll(async () => { await controller?.stop(); await cp?.stop(); });

  test.each([
    ['am-bracket', { alerting: { endpoints: [{ url: 'https://[am' }] } }, 'spec.alerting.endpoints[0].url'],
    ['am-percent', { alerting: { endpoints: [{ url: 'https://%zz/' }] } }, 'spec.alerting.endpoints[0].url'],
    ['am-port', { alerting: { endpoints: [{ url: 'https://am.example:99999' }] } }, 'spec.alerting.endpoints[0].url'],
    ['rw-port', { networkPolicy: { defaultDeny: true }, monitoring: { remoteWrite: [{ url: 'https://rw.example:99999/api/v1/push' }] } }, 'spec.monitoring.remoteWrite[0].url'],
  ])('%s: Degraded with the field path at its generation and one Event; never thrown, not retried', async (name, extra, path) => {
    const created = await create(name, { models: [model('m')], ...slim, ...extra });
    const degraded = await waitFor(`${name} Degraded`, async () => { const c = await condition(name, 'Degraded'); return c?.status === 'True' ? c : undefined; });
    expect(degraded).toMatchObject({ reason: 'InvalidSpec', observedGeneration: created.metadata.generation });
    expect(degraded.message).toContain(`${path}: Invalid value: `);
    expect((await cr(name))!.status.observedGeneration).toBe(created.metadata.generation);
    // Resyncs every second: three pass, and none of them threw or wrote again.
    const rv = (await cr(name))!.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 3500));
    expect((await cr(name))!.metadata.resourceVersion).toBe(rv);
    expect(await reconciles(name, 'error')).toBe(0);
    expect(await reconciles(name, 'failed')).toBeGreaterThanOrEqual(3);
    const events = (await api.request('GET', `/api/v1/namespaces/${NS}/events`)).items.filter((e: any) => e.involvedObject.name === name);
    expect(events.map((e: any) => [e.type, e.reason])).toEqual([['Warning', 'InvalidSpec']]);
    expect(events[0].message).toContain(path);
    // Nothing was applied.
    expect((await api.list(kindOf('apps/v1', 'Deployment'), NS, `${OWNER_LABEL}=${created.metadata.uid}`)).items).toEqual([]);
  }, 90_000);

  test('a corrected spec is reconciled at once: the change, not a retry, brings it back', async () => {
    const fixed = await api.request('PATCH', resourcePath(INFERENCE_MONITORING, NS, 'am-bracket'), { spec: { alerting: { endpoints: [{ url: 'https://am.example' }] } } }, 'application/merge-patch+json');
    const ok = await waitFor('am-bracket reconciled', async () => { const c = await condition('am-bracket', 'Degraded'); return c?.status === 'False' && c.observedGeneration === fixed.metadata.generation ? c : undefined; });
    expect(ok.reason).toBe('Reconciled');
    await waitFor('its Deployment', () => api.get(kindOf('apps/v1', 'Deployment'), NS, 'am-bracket-m'));
  }, 60_000);

  test('a Degraded message longer than the CRD\'s 32768 allows: the status is still written, bounded, saying what it left out', async () => {
    // 32 models in operator mode render 143 objects; someone else already has every one of them.
    const spec: InferenceMonitoringSpecInput = { models: Array.from({ length: 32 }, (_, i) => model(`model-with-a-rather-long-name-${String(i).padStart(2, '0')}`)), monitoring: { mode: 'operator' } };
    const big = 'tenant-resource-with-long-name';
    const objects = renderManifests({ name: big, namespace: NS, spec }) as KubeObject[];
    for (const o of objects) await api.request('POST', resourcePath(kindOf(o.apiVersion, o.kind), NS), o);
    const created = await create(big, spec);
    const degraded = await waitFor('Degraded', async () => { const c = await condition(big, 'Degraded'); return c?.status === 'True' ? c : undefined; }, 90_000);
    expect(degraded).toMatchObject({ reason: 'ApplyFailed', observedGeneration: created.metadata.generation });
    const full = objects.map((o) => `${o.kind} ${NS}/${o.metadata.name}: exists and is not owned by this InferenceMonitoring (no ${OWNER_LABEL} label); left unchanged: rename the model or resource, or delete that object`).join('; ');
    console.log(`unbounded message: ${Buffer.byteLength(full)} bytes; written: ${Buffer.byteLength(degraded.message)} bytes`);
    expect(Buffer.byteLength(full)).toBeGreaterThan(32768);
    expect(Buffer.byteLength(degraded.message)).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
    const [, more, bytes] = /; … (\d+) more problems \((\d+) bytes\) not shown$/.exec(degraded.message)!;
    expect(Number(more) + degraded.message.split(': exists and is not owned').length - 1).toBe(objects.length);
    expect(Buffer.byteLength(degraded.message.slice(0, degraded.message.lastIndexOf('; … '))) + Number(bytes)).toBe(Buffer.byteLength(full));
    expect(await reconciles(big, 'error')).toBe(0);
  }, 150_000);
});
