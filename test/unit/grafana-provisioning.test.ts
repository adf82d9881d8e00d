import { parse } from 'yaml';
import { DASHBOARDS_DIR } from '../../src/grafana/provisioning';
import { MAX_DASHBOARD_UID } from '../../src/dashboards/common';
import { renderManifests } from '../../src/render';

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
    const engine = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-v')!.spec.template.spec.containers[0];
    expect(engine.args).not.toContain('--otlp-traces-endpoint');
  });

  test('without Tempo but with an external collector, engines send traces there and Grafana has no Tempo links', () => {
    const objs = render({ tempo: { enabled: false }, tracing: { endpoint: 'http://otel-collector.observability:4317' } });
    expect(JSON.stringify(datasources(objs))).not.toContain('tempo');
    const engine = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-v')!.spec.template.spec.containers[0];
    expect(engine.args).toEqual(expect.arrayContaining(['--otlp-traces-endpoint', 'http://otel-collector.observability:4317']));
  });

  test('benchmarks add a PostgreSQL datasource whose credentials come from a Secret through the environment', () => {
    const objs = render({ benchmarks: { enabled: true, host: 'pg.db.svc:5432', secretRef: { name: 'bench-db' } } });
    const pg = datasources(objs).find((d: any) => d.type === 'grafana-postgresql-datasource');
    expect(pg).toMatchObject({ uid: 'benchmarks-postgres', url: 'pg.db.svc:5432', user: '$BENCHMARKS_DB_USER', secureJsonData: { password: '$BENCHMARKS_DB_PASSWORD' } });
    const env = objs.find((o) => o.metadata.name === 'demo-grafana' && o.kind === 'Deployment')!.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'BENCHMARKS_DB_PASSWORD', valueFrom: { secretKeyRef: { key: 'password', name: 'bench-db' } } });
  });

  test('an admin Secret the user names is used with its keys', () => {
    const objs = render({ grafana: { adminSecretRef: { name: 'ops-grafana', userKey: 'u', passwordKey: 'p' } } });
    const vol = objs.find((o) => o.metadata.name === 'demo-grafana' && o.kind === 'Deployment')!.spec.template.spec.volumes.find((v: any) => v.name === 'admin');
    expect(vol.secret).toEqual({ secretName: 'ops-grafana', items: [{ key: 'p', path: 'password' }, { key: 'u', path: 'user' }] });
  });

  test('operator mode points Grafana at the existing Prometheus', () => {
    expect(datasources(render({ monitoring: { mode: 'operator' } }))[0].url).toBe('http://kube-prometheus-stack-prometheus.monitoring.svc:9090');
    expect(datasources(render({ monitoring: { mode: 'operator', createPrometheus: true } }))[0].url).toBe('http://prometheus-operated.llm.svc:9090');
  });
});

/** What a Grafana sidecar collects: the ConfigMaps labelled `grafana_dashboard: "1"`, one entry per key. */
const dashboardFiles = (objs: any[]) => objs
  .filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1')
  .flatMap((o) => Object.entries(o.data as Record<string, string>).map(([key, text]) => ({ namespace: o.metadata.namespace, name: o.metadata.name, key, dashboard: JSON.parse(text), annotations: o.metadata.annotations })));
const every = { models: [{ name: 'v', model: 'x/y', engine: 'vllm' }, { name: 'l', model: 'x/z', engine: 'lmdeploy' }], benchmarks: { enabled: true, host: 'pg.db.svc:5432', secretRef: { name: 'bench-db' } } };
const stack = (name: string, namespace: string, spec: Record<string, unknown> = every) => renderManifests({ name, namespace, spec });

describe('dashboards of several stacks on one Grafana (kube-prometheus-stack\'s sidecar collects every namespace into one directory)', () => {
  test.each([
    ['two names in one namespace', ['demo', 'llm'], ['other', 'llm']],
    ['one name in two namespaces', ['demo', 'team-a'], ['demo', 'team-b']],
    ['names and namespaces that join alike', ['a-b', 'c'], ['a', 'b-c']],
  ])('%s: disjoint uids, titles and (namespace, name, key), and no file name twice', (_, [n1, ns1], [n2, ns2]) => {
    const one = dashboardFiles(stack(n1, ns1));
    const two = dashboardFiles(stack(n2, ns2));
    expect(one.length).toBe(5); // serving vLLM and LMDeploy, LMDeploy, GPU, benchmarks
    expect(two.length).toBe(one.length);
    const all = [...one, ...two];
    // The sidecar writes each key as a file of one directory: a key twice is one stack's file replacing the other's.
    expect(new Set(all.map((f) => f.key)).size).toBe(all.length);
    expect(new Set(all.map((f) => `${f.namespace}/${f.name}/${f.key}`)).size).toBe(all.length);
    expect(new Set(all.map((f) => f.dashboard.uid)).size).toBe(all.length);
    // Grafana lets a dashboard take the place of another with its title in its folder.
    expect(new Set(all.map((f) => f.dashboard.title)).size).toBe(all.length);
    for (const f of all) expect(f.key).toBe(`${f.dashboard.uid}.json`);
  });

  test('uids are at most 40 characters of [a-z0-9-], the same on every render and when unrelated fields change', () => {
    const long = { name: `n${'x'.repeat(252)}`, namespace: `s${'y'.repeat(62)}` };
    for (const [name, namespace] of [['demo', 'llm'], [long.name, long.namespace]]) {
      const uids = dashboardFiles(stack(name, namespace)).map((f) => f.dashboard.uid);
      for (const uid of uids) {
        expect(uid.length).toBeLessThanOrEqual(MAX_DASHBOARD_UID);
        expect(uid).toMatch(/^[a-z0-9-]+$/);
      }
      expect(dashboardFiles(stack(name, namespace)).map((f) => f.dashboard.uid)).toEqual(uids);
      const changed = dashboardFiles(stack(name, namespace, { ...every, monitoring: { retention: '30d' }, grafana: { anonymousAccess: true } })).map((f) => f.dashboard.uid);
      expect(changed).toEqual(uids);
    }
    // Pinned: a new uid is a new dashboard in Grafana (its URL, stars and links gone).
    expect(dashboardFiles(stack('demo', 'llm')).map((f) => [f.name, f.key, f.dashboard.title])).toEqual([
      ['demo-dashboard-serving-vllm', 'inference-serving-vllm-06337dd8.json', 'Inference serving: vLLM (llm/demo)'],
      ['demo-dashboard-serving-lmdeploy', 'inference-serving-lmdeploy-06337dd8.json', 'Inference serving: LMDeploy (llm/demo)'],
      ['demo-dashboard-lmdeploy', 'inference-lmdeploy-06337dd8.json', 'LMDeploy (llm/demo)'],
      ['demo-dashboard-gpu', 'inference-gpu-06337dd8.json', 'Inference GPUs (llm/demo)'],
      ['demo-dashboard-benchmarks', 'inference-benchmarks-06337dd8.json', 'Transformers benchmarks (llm/demo)'],
    ]);
  });

  test('the benchmark dashboard\'s "Go to data" link opens the stack\'s own benchmark dashboard', () => {
    const bench = dashboardFiles(stack('demo', 'llm')).find((f) => f.name === 'demo-dashboard-benchmarks')!.dashboard;
    expect(bench.links.filter((l: any) => l.title === 'Go to data').map((l: any) => l.url)).toEqual([`/d/${bench.uid}/?from=\${StartTime}&to=\${EndTime}`]);
  });

  test('the stack\'s own Grafana provisions every dashboard ConfigMap: mounted under the provider\'s path, one file each', () => {
    const objs = stack('demo', 'llm');
    const providers = parse(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-grafana-dashboard-providers')!.data['providers.yaml']).providers;
    expect(providers).toEqual([expect.objectContaining({ type: 'file', options: { path: DASHBOARDS_DIR, foldersFromFilesStructure: false } })]);
    const pod = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-grafana')!.spec.template.spec;
    const mounted = new Map<string, string>();
    for (const m of pod.containers[0].volumeMounts) {
      const cm = pod.volumes.find((v: any) => v.name === m.name)?.configMap?.name;
      if (cm && m.mountPath.startsWith(`${DASHBOARDS_DIR}/`)) mounted.set(cm, m.mountPath);
    }
    const files = dashboardFiles(objs);
    expect([...mounted.keys()].sort()).toEqual(files.map((f) => f.name).sort());
    expect(new Set(mounted.values()).size).toBe(files.length);
    for (const f of files) {
      expect(f.dashboard.uid).toMatch(/-06337dd8$/);
      // Honoured by kube-prometheus-stack's sidecar only with `folderAnnotation: grafana_folder` (README).
      expect(f.annotations).toEqual({ grafana_folder: 'Inference' });
    }
  });
});
