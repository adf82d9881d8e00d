import { renderManifests } from '../../src/render';
import { planStack } from '../../src/plan/plan';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';

const render = (spec: Record<string, unknown>) => renderManifests({ name: 'demo', namespace: 'llm', spec });

describe('operator mode scraping', () => {
  const spec = {
    monitoring: { mode: 'operator', release: 'kps' },
    models: [
      { name: 'q', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } },
      { name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } },
      { name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 } },
    ],
    targets: [{ name: 'legacy', engine: 'lmdeploy', selector: { app: 'lmdeploy' }, port: 23333, ranks: 3, namespace: 'serving' }],
  };
  const objs = render(spec);
  const monitors = objs.filter((o) => o.kind === 'PodMonitor');
  const byName = (n: string) => monitors.find((m) => m.metadata.name === n);

  test('every LMDeploy data-parallel rank is a PodMonitor endpoint', () => {
    expect(byName('demo-q')!.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path])).toEqual([['rank-0', '/metrics'], ['rank-1', '/metrics']]);
    expect(byName('demo-q')!.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'q' } });
  });

  test('vLLM keeps one endpoint: its engines share one /metrics', () => {
    expect(byName('demo-v')!.spec.podMetricsEndpoints.map((e: any) => e.port)).toEqual(['http']);
  });

  test('the selected port names exist on the pods', () => {
    for (const m of monitors.filter((x) => ['demo-q', 'demo-v'].includes(x.metadata.name))) {
      const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === m.metadata.name)!;
      const ports = dep.spec.template.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
      for (const e of m.spec.podMetricsEndpoints) expect(ports).toContain(e.port);
    }
  });

  test('an engine that pushes OTLP gets no PodMonitor', () => {
    expect(byName('demo-t')).toBeUndefined();
  });

  test('targets are scraped on every rank port whether or not the pod declares it, in their own namespace', () => {
    const t = byName('demo-legacy-target')!;
    for (const e of t.spec.podMetricsEndpoints) expect(e.port ?? e.portNumber).toBeUndefined();
    expect(t.spec.podMetricsEndpoints.map((e: any) => e.relabelings.find((r: any) => r.targetLabel === '__address__').replacement)).toEqual(['$1:23333', '$1:23334', '$1:23335']);
    expect(t.spec.namespaceSelector).toEqual({ matchNames: ['serving'] });
    expect(t.spec.selector).toEqual({ matchLabels: { app: 'lmdeploy' } });
  });

  // The managed Prometheus' relabelings of the same spec, by job: the operator's PodMonitors must apply the same.
  const managedPlan = planStack({ name: 'demo', namespace: 'llm', spec: { ...spec, monitoring: { mode: 'managed' } } });
  const managedJobs = buildPrometheusConfig((managedPlan as any).value).scrape_configs;
  const snake = (r: any) => ({ ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}), ...(r.targetLabel ? { target_label: r.targetLabel } : {}), ...(r.replacement !== undefined ? { replacement: r.replacement } : {}), ...(r.regex !== undefined ? { regex: r.regex } : {}), ...(r.action !== 'replace' ? { action: r.action } : {}) });
  const withoutPortFilter = (rs: any[]) => rs.filter((r) => !(r.action === 'keep' && /container_port/.test(r.source_labels[0])));

  test('every endpoint relabels exactly as the managed Prometheus does: job, namespace, pod, node, model, engine, and the operator\'s endpoint label dropped', () => {
    const cases: Array<[string, string[]]> = [['demo-q', ['demo-q']], ['demo-v', ['demo-v']], ['demo-legacy-target', ['demo-legacy-rank-0', 'demo-legacy-rank-1', 'demo-legacy-rank-2']], ['demo-dcgm-exporter', ['dcgm-exporter']]];
    for (const [monitor, jobs] of cases) {
      const endpoints = byName(monitor)!.spec.podMetricsEndpoints;
      const expected = monitor === 'demo-q' ? [jobs[0], jobs[0]] : jobs;
      expect(endpoints).toHaveLength(expected.length);
      endpoints.forEach((e: any, i: number) => {
        const job = managedJobs.find((j) => j.job_name === expected[i])!;
        // The managed list, then the operator's own labels undone: job back to the managed job name, and
        // those of namespace/container/pod/endpoint the managed job does not set dropped.
        const managed = withoutPortFilter(job.relabel_configs!);
        const sets = new Set(managed.map((r: any) => r.target_label));
        const fixups = [...(sets.has('job') ? [] : [{ target_label: 'job', replacement: job.job_name }]), { regex: ['namespace', 'container', 'pod', 'endpoint'].filter((l) => !sets.has(l)).join('|'), action: 'labeldrop' }];
        expect(e.relabelings.map(snake)).toEqual([...managed, ...fixups]);
      });
    }
    const q = byName('demo-q')!.spec.podMetricsEndpoints[0].relabelings;
    expect(q).toContainEqual({ targetLabel: 'job', replacement: 'demo-q', action: 'replace' });
    expect(q).toContainEqual({ regex: 'endpoint', action: 'labeldrop' });
    expect(q).toContainEqual({ sourceLabels: ['__meta_kubernetes_pod_label_monitoring_inference_dev_model'], targetLabel: 'model', action: 'replace' });
    const legacy = byName('demo-legacy-target')!.spec.podMetricsEndpoints[0].relabelings;
    expect(legacy).toContainEqual({ targetLabel: 'model', replacement: 'legacy', action: 'replace' });
    expect(legacy).toContainEqual({ targetLabel: 'inference_engine', replacement: 'lmdeploy', action: 'replace' });
  });

  test('inference monitors carry the release label and do not honour engine labels', () => {
    for (const m of monitors.filter((x) => x.metadata.name !== 'demo-dcgm-exporter')) {
      expect(m.metadata.labels!.release).toBe('kps');
      for (const e of m.spec.podMetricsEndpoints) expect(e.honorLabels).toBe(false);
    }
  });

  test('GPU series keep their own namespace/pod labels (honorLabels), the exporter pod\'s are dropped', () => {
    const dcgm = byName('demo-dcgm-exporter')!;
    expect(dcgm.metadata.labels!.release).toBe('kps');
    expect(dcgm.spec.podMetricsEndpoints).toMatchObject([{ portNumber: 9400, path: '/metrics', interval: '15s', honorLabels: true }]);
    expect(dcgm.spec.podMetricsEndpoints[0].relabelings).toContainEqual({ regex: 'namespace|container|pod|endpoint', action: 'labeldrop' });
  });

  test('with a Prometheus of its own, the monitors and rules lose the release label: the shared Prometheus does not select them too', () => {
    const own = render({ ...spec, monitoring: { mode: 'operator', release: 'kps', createPrometheus: true } });
    const selected = own.filter((o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind));
    expect(selected.length).toBeGreaterThan(0);
    for (const o of selected) expect(o.metadata.labels!.release).toBeUndefined();
    const prom = own.find((o) => o.kind === 'Prometheus')!;
    expect(prom.spec.podMonitorSelector).toEqual({ matchLabels: { 'app.kubernetes.io/instance': 'demo' } });
    for (const o of selected) expect(o.metadata.labels).toMatchObject(prom.spec.podMonitorSelector.matchLabels);
  });

  test('createPrometheus carries every monitoring field over; without it, fields a shared Prometheus cannot take are refused', () => {
    const monitoring = { mode: 'operator', createPrometheus: true, interval: '7s', evaluationInterval: '11s', retention: '3d', storage: { size: '20Gi', storageClassName: 'fast' }, remoteWrite: [{ url: 'https://mimir.example/api/v1/push', name: 'mimir' }] };
    const prom = render({ ...spec, monitoring }).find((o) => o.kind === 'Prometheus')!;
    expect(prom.spec).toMatchObject({
      scrapeInterval: '7s', evaluationInterval: '11s', retention: '3d',
      storage: { volumeClaimTemplate: { spec: { storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } } } },
      remoteWrite: [{ url: 'https://mimir.example/api/v1/push', name: 'mimir' }],
      externalLabels: { inference_monitoring: 'llm/demo' },
      enableFeatures: ['exemplar-storage'],
      otlp: { translationStrategy: 'UnderscoreEscapingWithSuffixes' },
      tsdb: { outOfOrderTimeWindow: '5m' },
    });
    const shared = planStack({ name: 'demo', namespace: 'llm', spec: { ...spec, monitoring: { ...monitoring, createPrometheus: false } } });
    const errors = shared.ok ? [] : shared.errors;
    expect(errors.map((e) => e.path).sort()).toEqual(['spec.monitoring.remoteWrite', 'spec.monitoring.storage']);
    expect(errors[0].message).toMatch(/createPrometheus/);
  });

  test('managed mode emits no prometheus-operator objects', () => {
    const managed = render({ models: [{ name: 'v', model: 'x/y', engine: 'vllm' }] });
    expect(managed.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
  });
});
