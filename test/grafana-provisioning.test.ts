import { parse } from 'yaml';
import { renderManifests } from '../src/render';

const render = (spec: Record<string, unknown>) => renderManifests({ name: 'demo', namespace: 'llm', spec: { models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], ...spec } });
const datasources = (objs: any[]) => parse(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-grafana-datasources').data['datasources.yaml']).datasources;

describe('Grafana provisioning', () => {
  test('Prometheus links exemplars to Tempo, and Tempo links traces to metrics', () => {
    const [prom, tempo] = datasources(render({}));
    expect(prom).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://demo-prometheus.llm.svc:9090', isDefault: true, editable: false });
    expect(prom.jsonData.exemplarTraceIdDestinations).toEqual([{ name: 'trace_id', datasourceUid: 'tempo' }]);
    expect(tempo).toMatchObject({ type: 'tempo', uid: 'tempo', url: 'http://demo-tempo.llm.svc:3200' });
    expect(tempo.jsonData.tracesToMetrics.datasourceUid).toBe('prometheus');
  });

  test('without Tempo there is no Tempo datasource and no link pointing at one', () => {
    const objs = render({ tempo: { enabled: false }, tracing: { enabled: false } });
    const ds = datasources(objs);
    expect(ds.map((d: any) => d.type)).toEqual(['prometheus']);
    expect(JSON.stringify(ds)).not.toContain('tempo');
    expect(objs.some((o) => o.metadata.name === 'demo-tempo')).toBe(false);
    const engine = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-v').spec.template.spec.containers[0];
    expect(engine.args).not.toContain('--otlp-traces-endpoint');
  });

  test('without Tempo but with an external collector, engines send traces there and Grafana has no Tempo links', () => {
    const objs = render({ tempo: { enabled: false }, tracing: { endpoint: 'http://otel-collector.observability:4317' } });
    expect(JSON.stringify(datasources(objs))).not.toContain('tempo');
    const engine = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-v').spec.template.spec.containers[0];
    expect(engine.args).toEqual(expect.arrayContaining(['--otlp-traces-endpoint', 'http://otel-collector.observability:4317']));
  });

  test('benchmarks add a PostgreSQL datasource whose credentials come from a Secret through the environment', () => {
    const objs = render({ benchmarks: { enabled: true, host: 'pg.db.svc:5432', secretRef: { name: 'bench-db' } } });
    const pg = datasources(objs).find((d: any) => d.type === 'grafana-postgresql-datasource');
    expect(pg).toMatchObject({ uid: 'benchmarks-postgres', url: 'pg.db.svc:5432', user: '$BENCHMARKS_DB_USER', secureJsonData: { password: '$BENCHMARKS_DB_PASSWORD' } });
    const env = objs.find((o) => o.metadata.name === 'demo-grafana' && o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'BENCHMARKS_DB_PASSWORD', valueFrom: { secretKeyRef: { key: 'password', name: 'bench-db' } } });
  });

  test('an admin Secret the user names is used with its keys', () => {
    const objs = render({ grafana: { adminSecretRef: { name: 'ops-grafana', userKey: 'u', passwordKey: 'p' } } });
    const vol = objs.find((o) => o.metadata.name === 'demo-grafana' && o.kind === 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'admin');
    expect(vol.secret).toEqual({ secretName: 'ops-grafana', items: [{ key: 'p', path: 'password' }, { key: 'u', path: 'user' }] });
  });

  test('operator mode points Grafana at the existing Prometheus', () => {
    expect(datasources(render({ monitoring: { mode: 'operator' } }))[0].url).toBe('http://kube-prometheus-stack-prometheus.monitoring.svc:9090');
    expect(datasources(render({ monitoring: { mode: 'operator', createPrometheus: true } }))[0].url).toBe('http://prometheus-operated.llm.svc:9090');
  });
});
