/**
 * The plan makes the decisions the constructs draw: which components run, their URLs and ports, Secret keys
 * with their defaults, NetworkPolicy peers, the dashboards' name prefix; planModel returns its own errors.
 * Plain objects, no cdk8s.
 */
import { PORTS, planModel, planStack, serviceUrl, StackPlan } from '../../src/plan/plan';
import { validateSpec } from '../../src/api/validate';

const models = [{ name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' }];
function plan(spec: Record<string, unknown>, name = 'demo'): StackPlan {
  const r = planStack({ name, namespace: 'llm', spec: { models, ...spec } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

test('every in-cluster URL is a Service URL built from the plan\'s names and ports', () => {
  const p = plan({});
  expect(serviceUrl('x', 'ns', 1)).toBe('http://x.ns.svc:1');
  expect(p.endpoints).toMatchObject({
    prometheus: serviceUrl(p.names.prometheus, 'llm', PORTS.prometheus),
    tempoGrpc: serviceUrl(p.names.tempo, 'llm', PORTS.otlpGrpc),
    tempoHttp: serviceUrl(p.names.tempo, 'llm', PORTS.otlpHttp),
    tempoQuery: serviceUrl(p.names.tempo, 'llm', PORTS.tempoHttp),
    grafana: serviceUrl(p.names.grafana, 'llm', PORTS.grafana),
    alertmanager: { host: `${p.names.alertmanager}.llm.svc`, port: PORTS.alertmanager },
  });
  expect(p.components.grafana?.datasources).toEqual({ prometheusUrl: p.endpoints.prometheus, tempoUrl: p.endpoints.tempoQuery, benchmarks: undefined });
  expect(p.components.tempo?.remoteWriteUrl).toBe(`${p.endpoints.prometheus}/api/v1/write`);
  expect(plan({ monitoring: { mode: 'operator', createPrometheus: true } }).endpoints.prometheus).toBe('http://prometheus-operated.llm.svc:9090');
});

test('components that are off are absent from the plan, and a shared Prometheus gets no Alertmanager or remote write', () => {
  const off = plan({ grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false }, gpuMetrics: { enabled: false }, networkPolicy: { enabled: false } });
  expect(off.components).toEqual({ prometheus: expect.objectContaining({ kind: 'managed' }), alertmanager: expect.anything(), tempo: undefined, grafana: undefined, dcgmExporter: undefined });
  expect(off.endpoints.grafana).toBeUndefined();
  expect(off.gpuMetrics).toBeUndefined();
  expect(off.networkPolicies).toBeUndefined();
  const shared = plan({ monitoring: { mode: 'operator', prometheusUrl: 'http://prom.monitoring.svc:9091' } });
  expect(shared.components.prometheus).toBeUndefined();
  expect(shared.components.alertmanager).toBeUndefined();
  expect(shared.components.tempo?.remoteWriteUrl).toBeUndefined();
  expect(shared.operator?.monitorLabels.release).toBe('kube-prometheus-stack');
  expect(plan({ monitoring: { mode: 'operator', createPrometheus: true } }).operator?.monitorLabels.release).toBeUndefined();
});

test('Secret keys not given take the schema\'s defaults', () => {
  const p = plan({});
  expect(p.components.grafana?.adminSecret).toEqual({ name: 'demo-grafana-admin', userKey: 'admin-user', passwordKey: 'admin-password' });
  expect(p.components.alertmanager?.configSecret).toEqual({ name: 'demo-alertmanager', key: 'alertmanager.yaml' });
  const given = plan({ grafana: { adminSecretRef: { name: 'adm', userKey: 'u' } }, alerting: { alertmanager: { configSecretRef: { name: 'amc' } } } });
  expect(given.components.grafana?.adminSecret).toEqual({ name: 'adm', userKey: 'u', passwordKey: 'admin-password' });
  expect(given.components.alertmanager?.configSecret).toEqual({ name: 'amc', key: 'alertmanager.yaml' });
});

test('the dashboards\' name prefix is the base name, or the shortened Grafana name of a long resource name', () => {
  expect(plan({}).names.dashboards).toBe('demo');
  expect(plan({}, '1abc').names.dashboards).toBe('im-1abc');
  const long = plan({}, 'a-very-long-resource-name-that-goes-on-and-on-and-on-for-ever-x');
  expect(long.names.grafana).toMatch(/-[0-9a-f]{8}$/);
  expect(long.names.dashboards).toBe(long.names.grafana);
});

test('NetworkPolicy peers and ports are planned: the scraper, the query port of a shared Prometheus, the exporter elsewhere', () => {
  const own = plan({ networkPolicy: { enabled: true, defaultDeny: true } }).networkPolicies!;
  expect(own.prometheus).toEqual({ name: 'demo-prometheus', port: 9090, selector: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'prometheus' } });
  expect(own.scraper).toBe(own.prometheus);
  expect(own.models).toEqual([expect.objectContaining({ name: 'demo-llama', openPorts: [8000], metricsOnlyPorts: [] })]);
  const shared = plan({ monitoring: { mode: 'operator', prometheusUrl: 'http://prom.monitoring.svc:9091' }, networkPolicy: { enabled: true }, gpuMetrics: { deployExporter: false, exporterNamespace: 'gpu-operator' } }).networkPolicies!;
  expect(shared.prometheus).toBeUndefined();
  expect(shared.queryPrometheus.port).toBe(9091);
  expect(shared.scrapeTargets).toContainEqual({ namespace: 'gpu-operator', selector: { app: 'nvidia-dcgm-exporter' }, ports: [9400] });
});

test('planModel takes one context and returns its errors instead of filling a list', () => {
  const spec = validateSpec({ models: [{ name: 'l', model: 'x/y', engine: 'vllm', resources: { limits: { memory: '1Gi' } } }] });
  if (!spec.ok) throw new Error('invalid');
  const r = planModel({ instance: 'demo', base: 'demo', spec: spec.value, endpoints: {} }, spec.value.models![0], 0);
  expect(r.value.objectName).toBe('demo-l');
  expect(r.errors).toEqual([{ path: 'spec.models[0].resources.limits.memory', message: 'Invalid value: "1Gi": below vLLM\'s default memory request of 64Gi; set resources.requests.memory too' }]);
});
