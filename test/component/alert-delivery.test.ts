/**
 * Alerts that reach a person, with real components: a real Prometheus runs the managed mode's
 * generated `prometheus.yml` (pod discovery replaced by the labels it would produce, and the
 * Alertmanager address by the local one) and rule file; a real Alertmanager (v0.35.0, built from the
 * Go module proxy) runs the recommended configuration (`recommendedAlertmanagerConfig`), checked by
 * `amtool check-config`; a webhook receiver stands for the person's pager.
 *
 * A stand-in LMDeploy rank stops serving: InferenceTargetDown reaches the webhook once, grouped by
 * namespace, model and alert name, with its summary, templated description and runbook URL; the rank
 * comes back: one resolved notification. The rules' `for` is shortened to 0s here so the test takes
 * seconds (`promtool test rules` in test/component/alert-rules.test.ts proves the real durations).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { parse as parseYaml } from 'yaml';
import { buildRuleFiles } from '../../src/alerts/rules';
import { LATENCY_ALERTS, OUTAGE_ALERTS, recommendedAlertmanagerConfig } from '../../src/alerts/alertmanager-config';
import { planStack, StackPlan } from '../../src/plan/plan';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { renderManifests } from '../../src/render';
import { configYaml } from '../../src/config-yaml';
import { amtool, haveAlertmanager, RunningAlertmanager, startAlertmanager } from '../harness/alertmanager';
import { havePrometheus, SHARED } from '../harness/binaries';
import { MetricsServer, serveMetrics } from '../harness/metrics-server';
import { eventually, RunningPrometheus, startPrometheusIn } from '../harness/prometheus';
import { FakePod, staticize } from '../harness/staticize';
import { startWebhookReceiver, WebhookReceiver } from '../harness/webhook-receiver';
import { SPEC_VARIANTS } from '../harness/spec-variants';
import { renderInstall } from '../harness/install';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const runIf = havePrometheus() && haveAlertmanager() ? describe : describe.skip;
const rank = (n: number) => fs.readFileSync(path.join(SHARED, 'fixtures', 'metrics', 'upstream', 'lmdeploy-loggers-output.prom'), 'utf8').replace(/engine="0"/g, `engine="${n}"`);

runIf('alert delivery: generated Prometheus configuration and rules, real Alertmanager, a webhook', () => {
  let hook: WebhookReceiver;
  let am: RunningAlertmanager;
  let prom: RunningPrometheus;
  let plan: StackPlan;
  let dir: string;
  const servers: MetricsServer[] = [];
  const amConfig = (url: string) => configYaml(recommendedAlertmanagerConfig({ webhook: { url }, groupWait: '1s', groupInterval: '1s' }));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-delivery-'));
    hook = await startWebhookReceiver();
    const cfgText = amConfig(hook.url);
    fs.writeFileSync(path.join(dir, 'alertmanager.yaml'), cfgText);
    am = await startAlertmanager({ config: cfgText });
    const result = planStack({
      name: 'demo', namespace: 'llm', spec: {
        models: [{ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } }],
        monitoring: { interval: '1s', evaluationInterval: '1s' },
        gpuMetrics: { enabled: false },
        alerting: { runbookBaseUrl: 'https://runbooks.example.com/inference' },
      },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    plan = result.value;
    const [q] = plan.models;
    for (const n of [0, 1]) servers.push(await serveMetrics(rank(n)));
    const pods: Record<string, FakePod[]> = {
      [q.objectName]: [0, 1].map((n) => ({ address: servers[n].address, namespace: 'llm', pod: 'demo-qwen-0', container: 'engine', portName: `rank-${n}`, podLabels: q.labels })),
    };
    const cfg = staticize(buildPrometheusConfig(plan), pods, path.join(dir, 'rules'));
    // The generated configuration names the stack's Alertmanager Service; here it is the local one.
    expect(cfg.alerting?.alertmanagers.map((a) => a.static_configs[0].targets)).toEqual([['demo-alertmanager.llm.svc:9093']]);
    cfg.alerting!.alertmanagers[0].static_configs = [{ targets: [new URL(am.url).host] }];
    fs.mkdirSync(path.join(dir, 'rules'));
    for (const [name, file] of Object.entries(buildRuleFiles(plan))) {
      const fast = { groups: file.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ('alert' in r ? { ...r, for: '0s' } : r)) })) };
      fs.writeFileSync(path.join(dir, 'rules', name), Yaml.stringify(fast));
    }
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), Yaml.stringify(cfg));
    prom = await startPrometheusIn(dir);
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await am?.stop();
    await hook?.stop();
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    if (dir && !process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('amtool accepts the recommended configuration, also with the webhook URL read from a file; a broken one is refused', async () => {
    const ok = await amtool(['check-config', path.join(dir, 'alertmanager.yaml')]);
    expect({ code: ok.code, out: ok.stdout + ok.stderr }).toMatchObject({ code: 0 });
    fs.writeFileSync(path.join(dir, 'url'), hook.url);
    fs.writeFileSync(path.join(dir, 'from-file.yaml'), configYaml(recommendedAlertmanagerConfig({ webhook: { urlFile: path.join(dir, 'url') } })));
    expect((await amtool(['check-config', path.join(dir, 'from-file.yaml')])).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'broken.yaml'), amConfig(hook.url).replace('receiver: inference-oncall', 'receiver: nobody'));
    const broken = await amtool(['check-config', path.join(dir, 'broken.yaml')]);
    expect(broken.code).not.toBe(0);
    expect(broken.stdout + broken.stderr).toMatch(/nobody/);
  });

  test('a rank stops: InferenceTargetDown reaches the webhook once, grouped, with its runbook; resolved once it is back', async () => {
    await eventually('both ranks up', async () => ((await prom.query('up{job="demo-qwen"} == 1')).length === 2 ? true : undefined), 30_000);
    const port = servers[1].port;
    await servers[1].close();
    const firing = await hook.waitFor((n) => n.payload.status === 'firing' && n.payload.groupLabels.alertname === 'InferenceTargetDown', 60_000);
    expect(firing.payload.groupLabels).toEqual({ namespace: 'llm', model: 'qwen', alertname: 'InferenceTargetDown' });
    expect(firing.payload.alerts).toHaveLength(1);
    const alert = firing.payload.alerts[0];
    expect(alert.labels).toMatchObject({ alertname: 'InferenceTargetDown', severity: 'critical', namespace: 'llm', model: 'qwen', instance: servers[1].address, job: 'demo-qwen', pod: 'demo-qwen-0' });
    expect(alert.annotations).toEqual({
      summary: 'An inference metrics endpoint cannot be scraped',
      description: `Model qwen in llm: demo-qwen at ${servers[1].address} (pod demo-qwen-0) has been down for 5 minutes (up = 0); its data-parallel rank is missing from every dashboard.`,
      runbook_url: 'https://runbooks.example.com/inference/InferenceTargetDown.md',
    });
    // Several evaluation and group intervals later: still one notification for it (repeat_interval 1h).
    await new Promise((r) => setTimeout(r, 4000));
    expect(hook.received.filter((n) => n.payload.groupLabels.alertname === 'InferenceTargetDown' && n.payload.status === 'firing')).toHaveLength(1);

    servers[1] = await serveMetrics(rank(1), port);
    const resolved = await hook.waitFor((n) => n.payload.status === 'resolved' && n.payload.groupLabels.alertname === 'InferenceTargetDown', 90_000);
    expect(resolved.payload.groupKey).toBe(firing.payload.groupKey);
    expect(resolved.payload.alerts.map((a: any) => [a.status, a.labels.instance])).toEqual([['resolved', servers[1].address]]);
  }, 180_000);

  test('an outage of a model inhibits its own latency alerts, not another model\'s', async () => {
    const now = Date.now();
    const alert = (alertname: string, model: string, severity: string) => ({
      labels: { alertname, namespace: 'inhibit', model, severity, inference_engine: 'vllm' },
      annotations: { summary: alertname }, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 600_000).toISOString(),
    });
    expect(OUTAGE_ALERTS).toContain('GpuXidError');
    const posted = [alert('InferenceTargetDown', 'a', 'critical'), alert(LATENCY_ALERTS[0], 'a', 'warning'), alert(LATENCY_ALERTS[0], 'b', 'warning')];
    const r = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(posted) });
    expect(r.status).toBe(200);
    const state = await eventually('inhibition evaluated', async () => {
      const all = (await (await fetch(`${am.url}/api/v2/alerts?filter=namespace%3D%22inhibit%22`)).json()) as any[];
      return all.length === 3 ? all : undefined;
    }, 20_000);
    const of = (name: string, model: string) => state.find((a) => a.labels.alertname === name && a.labels.model === model).status;
    expect(of(LATENCY_ALERTS[0], 'a')).toMatchObject({ state: 'suppressed' });
    expect(of(LATENCY_ALERTS[0], 'a').inhibitedBy).toHaveLength(1);
    expect(of(LATENCY_ALERTS[0], 'b')).toMatchObject({ state: 'active', inhibitedBy: [] });
    // The webhook hears of b's latency, never of a's.
    await hook.waitFor((n) => n.payload.groupLabels.namespace === 'inhibit' && n.payload.groupLabels.model === 'b', 20_000);
    await new Promise((res) => setTimeout(res, 3000));
    const heard = hook.received.filter((n) => n.payload.groupLabels.namespace === 'inhibit').map((n) => `${n.payload.groupLabels.alertname}/${n.payload.groupLabels.model}`).sort();
    expect(heard).toEqual(['InferenceTargetDown/a', `${LATENCY_ALERTS[0]}/b`].sort());
  }, 60_000);
});

describe('every alert has a runbook, and says so', () => {
  const runbooks = path.join(__dirname, '..', '..', 'docs', 'runbooks');
  // Every spec variant (every engine, targets, GPU metrics) and one with all three SLOs.
  const specs: InferenceMonitoringSpecInput[] = [...Object.values(SPEC_VARIANTS), {
    models: [{ name: 'v', model: 'x/y', engine: 'vllm' }],
    slo: { ttft: { objective: 0.99, thresholdSeconds: 1 }, interTokenLatency: { objective: 0.99, thresholdSeconds: 0.1 }, availability: { objective: 0.999 } },
  }];
  const alerts = new Map<string, any>();
  for (const spec of specs) {
    for (const o of renderManifests({ name: 'demo', namespace: 'llm', spec })) {
      const text = o.kind === 'ConfigMap' && o.data?.['inference-monitoring.yaml'];
      if (text) for (const g of parseYaml(text).groups) for (const r of g.rules) if (r.alert) alerts.set(r.alert, r);
    }
  }
  // The controller's own, from its install as dist/1 ships it.
  for (const o of renderInstall().filter((x) => x.kind === 'PrometheusRule')) for (const g of o.spec.groups) for (const r of g.rules) if (r.alert) alerts.set(r.alert, r);

  test.each([...alerts.keys()].sort())('%s: a runbook in docs/runbooks/, its URL, a summary and a description naming what fired', (name) => {
    const r = alerts.get(name);
    expect(fs.existsSync(path.join(runbooks, `${name}.md`))).toBe(true);
    expect(fs.readFileSync(path.join(runbooks, 'README.md'), 'utf8')).toContain(`(${name}.md)`);
    expect(r.annotations.runbook_url).toMatch(new RegExp(`/${name}\\.md$`));
    expect(r.annotations.summary.length).toBeGreaterThan(10);
    expect(r.annotations.description).toMatch(/\{\{ \$value/);
  });

  test('the alerts covered are every alert the rules can emit', () => {
    expect([...alerts.keys()].sort()).toEqual(expect.arrayContaining(['GpuExporterDown', 'GpuTemperatureHigh', 'GpuXidError', 'InferenceTargetDown', 'InferenceSLOAvailabilityBudgetBurn', 'InferenceMonitoringControllerNoLeader']));
    // And no runbook is orphaned: each names an alert some spec emits.
    const files = fs.readdirSync(runbooks).filter((f) => f !== 'README.md').map((f) => f.replace(/\.md$/, '')).sort();
    expect(files).toEqual([...alerts.keys()].sort());
  });
});
