import { renderManifests } from '../src/render';

const render = (spec: Record<string, unknown>) => renderManifests({ name: 'demo', namespace: 'llm', spec });

describe('operator mode scraping', () => {
  const objs = render({
    monitoring: { mode: 'operator', release: 'kps' },
    models: [
      { name: 'q', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } },
      { name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } },
      { name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 } },
    ],
    targets: [{ name: 'legacy', engine: 'lmdeploy', selector: { app: 'lmdeploy' }, port: 23333, ranks: 3, namespace: 'serving' }],
  });
  const monitors = objs.filter((o) => o.kind === 'PodMonitor');
  const byName = (n: string) => monitors.find((m) => m.metadata.name === n);

  test('every LMDeploy data-parallel rank is a PodMonitor endpoint', () => {
    expect(byName('demo-q').spec.podMetricsEndpoints.map((e: any) => [e.port, e.path])).toEqual([['rank-0', '/metrics'], ['rank-1', '/metrics']]);
    expect(byName('demo-q').spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'q' } });
  });

  test('vLLM keeps one endpoint: its engines share one /metrics', () => {
    expect(byName('demo-v').spec.podMetricsEndpoints.map((e: any) => e.port)).toEqual(['http']);
  });

  test('the selected port names exist on the pods', () => {
    for (const m of monitors.filter((x) => ['demo-q', 'demo-v'].includes(x.metadata.name))) {
      const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === m.metadata.name);
      const ports = dep.spec.template.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
      for (const e of m.spec.podMetricsEndpoints) expect(ports).toContain(e.port);
    }
  });

  test('an engine that pushes OTLP gets no PodMonitor', () => {
    expect(byName('demo-t')).toBeUndefined();
  });

  test('targets are scraped by port number on every rank, in their own namespace', () => {
    const t = byName('demo-legacy-target');
    expect(t.spec.podMetricsEndpoints.map((e: any) => e.portNumber)).toEqual([23333, 23334, 23335]);
    expect(t.spec.namespaceSelector).toEqual({ matchNames: ['serving'] });
    expect(t.spec.selector).toEqual({ matchLabels: { app: 'lmdeploy' } });
  });

  test('inference monitors carry the release label, do not honour engine labels, and copy model/engine labels', () => {
    for (const m of monitors.filter((x) => x.metadata.name !== 'demo-dcgm-exporter')) {
      expect(m.metadata.labels.release).toBe('kps');
      for (const e of m.spec.podMetricsEndpoints) {
        expect(e.honorLabels).toBe(false);
        expect(e.relabelings).toEqual([
          { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_monitoring_inference_dev_model'], targetLabel: 'model' },
          { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_monitoring_inference_dev_engine'], targetLabel: 'inference_engine' },
        ]);
      }
    }
  });

  test('GPU series keep the exporter\'s pod/namespace labels (honorLabels) and get no model labels', () => {
    const dcgm = byName('demo-dcgm-exporter');
    expect(dcgm.metadata.labels.release).toBe('kps');
    expect(dcgm.spec.podMetricsEndpoints).toEqual([{ portNumber: 9400, path: '/metrics', interval: '15s', honorLabels: true }]);
  });

  test('managed mode emits no prometheus-operator objects', () => {
    const managed = render({ models: [{ name: 'v', model: 'x/y', engine: 'vllm' }] });
    expect(managed.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
  });
});
