/**
 * The controller watched like the engines. A real controller on a real
 * apiserver reconciles three resources (one Ready, one whose model never gets
 * ready, one whose objects cannot be applied); a real Prometheus scrapes its
 * /metrics and runs the PrometheusRule its install ships (dist/1). Every
 * panel of the install's dashboard returns data, with the right numbers; the
 * alerts go pending for exactly the resources they concern; stopping the
 * controller makes NoLeader pending. `promtool test rules` proves each alert
 * fires after its `for` and stays silent when healthy.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/manager';
import { KubeApi } from '../../src/controller/kube';
import { INFERENCE_MONITORING, kindOf, resourcePath } from '../../src/controller/resources';
import { CONTROLLER_JOB } from '../../src/install/controller-dashboard';
import { dashboardQueries, substituteVariables } from '../../src/check/check-dashboards';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';
import { havePrometheus } from '../harness/binaries';
import { promtool, RunningPrometheus, startPrometheus } from '../harness/prometheus';
import { renderInstall } from '../harness/install';
import { waitFor } from '../harness/wait';

const NS = 'llm';
const install = renderInstall();
const dashboard = JSON.parse(Object.values(install.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1').data)[0] as string);
/** The install's PrometheusRule as a Prometheus rule file. */
const ruleFile = {
  groups: install.find((o) => o.kind === 'PrometheusRule').spec.groups.map((g: any) => ({
    name: g.name,
    rules: g.rules.map((r: any) => ({ alert: r.alert, expr: r.expr, for: r.for, labels: r.labels, annotations: r.annotations })),
  })),
};
const model = (name: string) => ({ name, model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' });

const runIf = haveK8sBinaries() && havePrometheus() ? describe : describe.skip;

runIf('the controller\'s dashboard and alerts on its real /metrics', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller | undefined;
  let prom: RunningPrometheus;
  const byPanel = new Map<string, Array<{ metric: Record<string, string>; value: number }>>();

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    controller = new Controller({ api: new KubeApi(kc), metricsPort: 0, resyncMs: 3000, leaderElection: { namespace: NS }, log: () => undefined });
    await controller.start();
    prom = await startPrometheus({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules/*.yaml'],
      scrape_configs: [{ job_name: CONTROLLER_JOB, static_configs: [{ targets: [`127.0.0.1:${controller.port}`] }] }],
    }, { 'controller.yaml': ruleFile });

    const create = (name: string, spec: unknown) => api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec });
    await create('ready', { models: [model('qwen')], grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } });
    await create('pending', { models: [model('qwen')], grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } });
    // Its targets' namespace does not exist: the objects there cannot be applied.
    await create('broken', { models: [model('qwen')], grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false }, targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, namespace: 'absent' }] });

    // No kube-controller-manager here: report the Deployment of `ready` as rolled out, as it would.
    const deploy = kindOf('apps/v1', 'Deployment');
    const d = await waitFor('Deployment of ready', () => api.get(deploy, NS, 'ready-qwen'), 60_000);
    await api.request('PATCH', `${resourcePath(deploy, NS, 'ready-qwen')}/status`, { status: { observedGeneration: d.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } }, 'application/merge-patch+json');
    const cond = async (name: string, type: string) => ((await api.get(INFERENCE_MONITORING, NS, name))?.status?.conditions ?? []).find((c: any) => c.type === type);
    await waitFor('ready is Ready', async () => (await cond('ready', 'Ready'))?.status === 'True', 60_000);
    await waitFor('broken is Degraded', async () => (await cond('broken', 'Degraded'))?.reason === 'ApplyFailed', 60_000);
    // Enough scrapes for rates over the 30 s window the queries are evaluated with. Within that window a
    // child deleted by hand gives a 404 (the read before it is created again): namespaces come from a watch,
    // so broken's missing namespace is no longer a 404 on every pass.
    await new Promise((r) => setTimeout(r, 10_000));
    const cm = kindOf('v1', 'ConfigMap');
    await api.request('DELETE', resourcePath(cm, NS, 'pending-prometheus'));
    await waitFor('pending-prometheus recreated', () => api.get(cm, NS, 'pending-prometheus'), 30_000);
    await new Promise((r) => setTimeout(r, 25_000));
    for (const { panel, expr } of dashboardQueries(dashboard).queries) {
      const q = substituteVariables(expr, { namespace: '.*', datasource: 'prometheus', __rate_interval: '30s' });
      const rows = (await prom.query(q)).map((s: any) => ({ metric: s.metric, value: Number(s.value[1]) }));
      byPanel.set(panel, [...(byPanel.get(panel) ?? []), ...rows]);
    }
  }, 240_000);
  afterAll(async () => { await controller?.stop(); await prom?.stop(); await cp?.stop(); });

  test('every panel of the shipped dashboard shows data', () => {
    const panels = dashboardQueries(dashboard).queries.map((q) => q.panel);
    expect(panels.length).toBeGreaterThanOrEqual(14);
    expect([...new Set(panels)].filter((p) => !(byPanel.get(p) ?? []).length)).toEqual([]);
  });

  test('the numbers are right: 3 resources, 1 Ready, 1 leader, which resource fails', () => {
    const one = (panel: string) => { const r = byPanel.get(panel)!; expect(r).toHaveLength(1); return r[0].value; };
    expect(one('Resources')).toBe(3);
    expect(one('Ready')).toBe(1);
    expect(one('Leader')).toBe(1);
    const ready = Object.fromEntries(byPanel.get('Ready per resource')!.map((r) => [r.metric.resource_name, r.value]));
    expect(ready).toEqual({ ready: 1, pending: 0, broken: 0 });
    const results = byPanel.get('Reconciles per resource by result')!.map((r) => `${r.metric.resource_name} ${r.metric.result}`);
    // Only broken fails; every resource has succeeded or keeps trying; nothing threw.
    expect(results.filter((r) => r.endsWith(' failed'))).toEqual(['broken failed']);
    expect(results).toEqual(expect.arrayContaining(['ready success', 'pending success']));
    expect(results.filter((r) => r.endsWith(' error'))).toEqual([]);
  });

  test('apiserver requests by verb and code include the 404 of a child deleted by hand, and their share is shown', () => {
    const rows = byPanel.get('Apiserver requests by verb and code')!.map((r) => `${r.metric.verb} ${r.metric.code}`);
    expect(rows).toEqual(expect.arrayContaining(['list 200', 'watch 200', 'get 404']));
    expect(rows.every((r) => /^(get|list|watch|create|patch|update|delete) (\d{3}|error)$/.test(r))).toBe(true);
    const share = byPanel.get('Apiserver responses other than 2xx')![0].value;
    expect(share).toBeGreaterThan(0);
    expect(share).toBeLessThan(1);
  });

  test('queue wait, reconcile duration and memory are measured', () => {
    for (const p of ['Time waiting in the queue', 'Reconcile duration']) {
      const v = byPanel.get(p)!.map((r) => r.value);
      expect(v.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    }
    const rss = byPanel.get('Memory')!.find((r) => r.metric.instance && r.value > 0)!.value;
    expect(rss).toBeGreaterThan(20 * 2 ** 20);
  });

  test('alerts: ReconcileFailing pending for broken only, NotReady for pending and broken; no NoLeader', async () => {
    const alerts = await waitFor('ReconcileFailing pending', async () => {
      const a = await prom.query('ALERTS');
      return a.some((s: any) => s.metric.alertname === 'InferenceMonitoringReconcileFailing') ? a : undefined;
    }, 30_000);
    const active = alerts.map((s: any) => `${s.metric.alertname} ${s.metric.resource_name ?? ''} ${s.metric.alertstate}`.replace('  ', ' ')).sort();
    expect(active).toEqual([
      'InferenceMonitoringNotReady broken pending',
      'InferenceMonitoringNotReady pending pending',
      'InferenceMonitoringReconcileFailing broken pending',
    ]);
  });

  test('the controller stops: NoLeader goes pending', async () => {
    await controller!.stop();
    controller = undefined;
    const a = await waitFor('NoLeader pending', async () => {
      const s = await prom.query('ALERTS{alertname="InferenceMonitoringControllerNoLeader"}');
      return s.length ? s : undefined;
    }, 30_000);
    expect(a[0].metric).toMatchObject({ alertstate: 'pending', severity: 'critical' });
  }, 40_000);
});

runIf('the controller\'s alerts under promtool test rules', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-controller-rules-'));
    fs.writeFileSync(path.join(dir, 'controller.yaml'), Yaml.stringify(ruleFile));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const res = { resource_namespace: 'llm', resource_name: 'demo' };
  const lbl = (o: Record<string, string>) => `{${Object.entries(o).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  async function run(name: string, tests: any[]): Promise<void> {
    // promtool compares annotations: take each alert's templates rendered by Prometheus' own rules, not ours.
    const file = path.join(dir, `${name}.test.yaml`);
    fs.writeFileSync(file, Yaml.stringify({ rule_files: ['controller.yaml'], evaluation_interval: '1m', tests }));
    const r = await promtool(['test', 'rules', file]);
    expect({ name, code: r.code, out: r.code === 0 ? 'ok' : r.stdout + r.stderr }).toEqual({ name, code: 0, out: 'ok' });
  }
  const annotationsOf = (alertname: string, labels: Record<string, string>, value: string) => {
    const rule = ruleFile.groups[0].rules.find((r: any) => r.alert === alertname);
    return Object.fromEntries(Object.entries<string>(rule.annotations).map(([k, v]) => [k, v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, l) => labels[l] ?? '').replace(/\{\{ \$value \| humanize \}\}/g, value)]));
  };
  const alert = (alertname: string, at: string, labels: Record<string, string>, value: string) => ({
    eval_time: at, alertname,
    exp_alerts: [{ exp_labels: { ...labels, severity: ruleFile.groups[0].rules.find((r: any) => r.alert === alertname).labels.severity }, exp_annotations: annotationsOf(alertname, labels, value) }],
  });
  const silent = (alertname: string, at: string) => ({ eval_time: at, alertname, exp_alerts: [] });

  test('ReconcileFailing: a failure every 5 minutes fires after 15m; a single failure does not', () => run('failing', [
    { interval: '1m', input_series: [{ series: `inference_monitoring_resource_reconcile_total${lbl({ ...res, result: 'failed', instance: 'a' })}`, values: '0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3 3 3 3 3 4 4 4 4 4 5 5 5 5 5 6 6 6 6 6 7' }],
      // 3 failures in the window, extrapolated by increase() to its edges: 3 × 15/14.
      alert_rule_test: [silent('InferenceMonitoringReconcileFailing', '10m'), alert('InferenceMonitoringReconcileFailing', '30m', res, '3.214')] },
    { interval: '1m', input_series: [{ series: `inference_monitoring_resource_reconcile_total${lbl({ ...res, result: 'failed', instance: 'a' })}`, values: '0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1' }],
      alert_rule_test: [silent('InferenceMonitoringReconcileFailing', '16m'), silent('InferenceMonitoringReconcileFailing', '30m')] },
  ]));

  test('NotReady: 0 from both replicas for 30m fires; Ready on one replica\'s cache is Ready', () => run('not-ready', [
    { interval: '1m', input_series: [
      { series: `inference_monitoring_resource_ready${lbl({ ...res, instance: 'a' })}`, values: '0x40' },
      { series: `inference_monitoring_resource_ready${lbl({ ...res, instance: 'b' })}`, values: '0x40' },
      { series: `inference_monitoring_resource_ready${lbl({ resource_namespace: 'llm', resource_name: 'ok', instance: 'a' })}`, values: '0x10 1x30' },
      { series: `inference_monitoring_resource_ready${lbl({ resource_namespace: 'llm', resource_name: 'ok', instance: 'b' })}`, values: '0x40' },
    ], alert_rule_test: [silent('InferenceMonitoringNotReady', '29m'), alert('InferenceMonitoringNotReady', '31m', res, '0')] },
  ]));

  test('NoLeader: no replica leading, or none scraped, fires after 5m; one leader is silent', () => run('no-leader', [
    { interval: '1m', input_series: [
      { series: `inference_monitoring_leader${lbl({ instance: 'a' })}`, values: '1x5 0x20' },
      { series: `inference_monitoring_leader${lbl({ instance: 'b' })}`, values: '0x25' },
    ], alert_rule_test: [silent('InferenceMonitoringControllerNoLeader', '5m'), silent('InferenceMonitoringControllerNoLeader', '9m'), alert('InferenceMonitoringControllerNoLeader', '12m', {}, '0')] },
    // Not scraped at all: `or vector(0)`.
    { interval: '1m', input_series: [{ series: 'up{job="other"}', values: '1x20' }],
      alert_rule_test: [alert('InferenceMonitoringControllerNoLeader', '10m', {}, '0')] },
  ]));

  test('WorkQueueGrowing: never empty fires after 5m; a burst that drains does not', () => run('queue', [
    { interval: '1m', input_series: [{ series: `inference_monitoring_workqueue_depth${lbl({ instance: 'a' })}`, values: '1+1x30' }],
      alert_rule_test: [silent('InferenceMonitoringWorkQueueGrowing', '3m'), alert('InferenceMonitoringWorkQueueGrowing', '25m', {}, '12')] },
    { interval: '1m', input_series: [{ series: `inference_monitoring_workqueue_depth${lbl({ instance: 'a' })}`, values: '500 400 300 200 100 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0' }],
      alert_rule_test: [silent('InferenceMonitoringWorkQueueGrowing', '4m'), silent('InferenceMonitoringWorkQueueGrowing', '25m')] },
  ]));
});
