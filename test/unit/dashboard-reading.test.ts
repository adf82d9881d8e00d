/**
 * Every generated dashboard reads as its numbers mean (#28): each panel has a unit, the range its quantity can
 * take and thresholds of its own (never Grafana's default green with red from 80, which keeps a 0-1 KV-cache
 * stat always green); a panel on an alert's signal draws that alert's threshold, taken from the rule file the
 * same spec generates, and links the alert's runbook; every panel says what it shows and where its numbers come
 * from; the dashboards of a stack link each other by their planned uids, never another stack's.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildRuleFiles } from '../../src/alerts/rules';
import { catalogDashboards, stackDashboardFiles } from '../../src/dashboards';
import { benchmarkDashboard } from '../../src/dashboards/benchmark';
import { DashboardJson } from '../../src/dashboards/common';
import { PROFILES } from '../../src/engines/registry';
import { controllerDashboard } from '../../src/install/controller-dashboard';
import { controllerRuleGroup } from '../../src/install/controller-rules';
import { planOrThrow } from '../../src/render';
import { AlertingRule, RuleGroup } from '../../src/prometheus/config-types';
import { alertSteps } from '../../src/dashboards/panel-alerts';
import { num } from '../../src/promql/ast';

const REPO = path.resolve(__dirname, '..', '..');
const RUNBOOKS = 'https://runbooks.example.com/inference';

/** Every engine, GPUs and benchmarks, thresholds other than the defaults, runbooks published elsewhere. */
const SPEC = {
  models: [
    { name: 'v', model: 'x/v', engine: 'vllm', parallelism: { data: 2 }, gpu: { count: 2 } },
    { name: 'l', model: 'x/l', engine: 'lmdeploy', parallelism: { tensor: 2, data: 2 }, gpu: { count: 2 } },
    { name: 's', model: 'x/s', engine: 'sglang' },
    { name: 't', model: 'x/t', engine: 'tgi' },
    { name: 'f', model: 'x/f', engine: 'transformers' },
  ],
  benchmarks: { enabled: true, host: 'pg.db.svc:5432', secretRef: { name: 'bench-db' } },
  alerts: { ttftP95Seconds: 1.5, queueLength: 7, kvCacheUsage: 0.9, errorRatio: 0.02 },
  alerting: { runbookBaseUrl: RUNBOOKS },
};

/** Panels showing an alert's own signal (the same expression, or its split by rank of a max over ranks). */
const SAME_SIGNAL: Record<string, readonly string[]> = {
  InferenceKVCacheSaturated: ['KV-cache usage (worst pod/rank)', 'KV-cache usage', 'KV-cache usage per data-parallel rank', 'Cache Utilization per DP rank'],
  InferenceQueueBuildUp: ['Waiting requests'],
  InferenceTimeToFirstTokenHigh: ['Time to first token', 'Time To First Token Latency'],
  InferenceErrorRateHigh: ['Error ratio'],
  InferencePreemptions: ['Preemptions/s'],
  GpuTemperatureHigh: ['Temperature'],
  GpuXidError: ['Last XID error'],
  InferenceMonitoringControllerNoLeader: ['Leader'],
  InferenceMonitoringNotReady: ['Ready per resource'],
};

/** Shares between 0 and 1. */
const RATIO_PANELS = [...SAME_SIGNAL.InferenceKVCacheSaturated, 'Error ratio', 'Prefix-cache hit rate', 'Batch fill percentiles', 'Apiserver responses other than 2xx'];

const GRAFANA_DEFAULT_STEPS = [{ color: 'green', value: null }, { color: 'red', value: 80 }];

interface Panel { type: string; title: string; description?: string; links?: Array<{ title: string; url: string }>; targets?: Array<{ expr?: string; rawSql?: string }>; fieldConfig?: { defaults: any } }
const panels = (d: DashboardJson) => (d.panels as Panel[]).filter((p) => p.type !== 'row');
const dataPanels = (d: DashboardJson) => panels(d).filter((p) => p.type !== 'text');
const steps = (p: Panel) => (p.fieldConfig?.defaults?.thresholds?.steps ?? []) as Array<{ value: number | null; color: string }>;

/** Alert name → [comparison, threshold], as the rule file prints them (`<signal> > 0.9`). */
function thresholds(groups: readonly RuleGroup[], engine?: string): Map<string, { op: string; threshold: number }> {
  const out = new Map<string, { op: string; threshold: number }>();
  for (const g of groups) {
    for (const r of g.rules.filter((x): x is AlertingRule => 'alert' in x)) {
      if (engine !== undefined && r.labels?.inference_engine !== engine) continue;
      if (engine === undefined && r.labels?.inference_engine) continue;
      const m = /(>=|<=|==|>|<) (-?[\d.e+-]+)$/.exec(r.expr);
      if (m && !/ and /.test(r.expr)) out.set(r.alert, { op: m[1], threshold: Number(m[2]) });
    }
  }
  return out;
}

const plan = planOrThrow({ name: 'demo', namespace: 'llm', spec: SPEC as any });
const files = stackDashboardFiles(plan);
const groups = buildRuleFiles(plan)['inference-monitoring.yaml'].groups;
const controller = controllerDashboard({ runbookBaseUrl: RUNBOOKS });
const controllerGroup = controllerRuleGroup({ runbookBaseUrl: RUNBOOKS });

/** Each dashboard of the stack (and the controller's) with the alerts of its rule group(s). */
const DASHBOARDS: Array<{ name: string; dashboard: DashboardJson; alerts: Map<string, { op: string; threshold: number }> }> = [
  ...files.map(({ name, dashboard }) => {
    const engine = name.startsWith('serving-') ? name.slice('serving-'.length) : name === 'lmdeploy' ? 'lmdeploy' : undefined;
    return { name, dashboard, alerts: name === 'benchmarks' ? new Map() : thresholds(groups, engine) };
  }),
  { name: 'controller', dashboard: controller, alerts: thresholds([controllerGroup]) },
];

test('the stack has every dashboard: a serving dashboard per engine, LMDeploy\'s, GPUs, benchmarks (and the controller\'s)', () => {
  expect(DASHBOARDS.map((d) => d.name)).toEqual(['serving-vllm', 'serving-lmdeploy', 'serving-sglang', 'serving-tgi', 'serving-transformers', 'lmdeploy', 'gpu', 'benchmarks', 'controller']);
});

describe.each(DASHBOARDS.map((d) => [d.name, d] as const))('%s', (_name, { dashboard, alerts }) => {
  test('no panel keeps Grafana\'s default thresholds (green, red from 80): each has its own, absolute', () => {
    for (const p of dataPanels(dashboard)) {
      const t = p.fieldConfig?.defaults?.thresholds;
      expect({ panel: p.title, mode: t?.mode, isDefault: JSON.stringify(t?.steps) === JSON.stringify(GRAFANA_DEFAULT_STEPS) }).toEqual({ panel: p.title, mode: 'absolute', isDefault: false });
      expect({ panel: p.title, steps: steps(p).length > 0 }).toEqual({ panel: p.title, steps: true });
    }
  });

  test('every panel has a unit; shares are percentunit from 0 to 1, utilisations percent from 0 (GPU: to 100), amounts from 0', () => {
    for (const p of dataPanels(dashboard)) {
      const d = p.fieldConfig!.defaults;
      expect({ panel: p.title, unit: typeof d.unit === 'string' && d.unit.length > 0 }).toEqual({ panel: p.title, unit: true });
      if (RATIO_PANELS.includes(p.title) || d.unit === 'percentunit') expect({ panel: p.title, unit: d.unit, min: d.min, max: d.max }).toEqual({ panel: p.title, unit: 'percentunit', min: 0, max: 1 });
      if (d.unit === 'percent') expect({ panel: p.title, min: d.min }).toEqual({ panel: p.title, min: 0 });
      if (/^GPU utilization/.test(p.title)) expect({ panel: p.title, unit: d.unit, max: d.max }).toEqual({ panel: p.title, unit: 'percent', max: 100 });
      if (['s', 'reqps', 'short', 'bytes', 'mbytes', 'watt', 'ops'].includes(d.unit) || d.unit.startsWith('count:')) expect({ panel: p.title, min: d.min }).toEqual({ panel: p.title, min: 0 });
    }
  });

  test('a panel on an alert\'s signal has the alert\'s threshold (from the rule file) as a red step and links its runbook', () => {
    for (const [alert, { op, threshold }] of alerts) {
      for (const p of dataPanels(dashboard).filter((x) => SAME_SIGNAL[alert]?.includes(x.title))) {
        const at = steps(p).find((s) => s.value === threshold);
        // `x < t`: red below t, the threshold step is where the OK colour starts.
        expect({ panel: p.title, alert, step: at?.color }).toEqual({ panel: p.title, alert, step: op === '<' ? 'green' : 'red' });
        expect(p.links?.map((l) => l.url)).toContain(`${RUNBOOKS}/${alert}.md`);
        expect(p.description).toContain(`Alert ${alert}`);
      }
    }
  });

  test('no panel invents a level: a coloured step belongs to an alert the panel links; the others have one neutral step', () => {
    for (const p of dataPanels(dashboard)) {
      const coloured = steps(p).filter((s) => s.value !== null);
      if (!coloured.length) {
        expect({ panel: p.title, steps: steps(p) }).toEqual({ panel: p.title, steps: [{ value: null, color: 'text' }] });
        continue;
      }
      const linked = (p.links ?? []).map((l) => l.title.replace(/^Runbook: /, '')).filter((a) => alerts.has(a));
      expect({ panel: p.title, hasAlertThreshold: linked.some((a) => steps(p).some((s) => s.value === alerts.get(a)!.threshold)) }).toEqual({ panel: p.title, hasAlertThreshold: true });
    }
  });

  test('every runbook link is an alert of the rule file under the spec\'s runbookBaseUrl', () => {
    for (const p of panels(dashboard)) {
      for (const l of p.links ?? []) {
        const alert = l.title.replace(/^Runbook: /, '');
        expect({ panel: p.title, alert, known: alerts.has(alert) }).toEqual({ panel: p.title, alert, known: true });
        expect(l.url).toBe(`${RUNBOOKS}/${alert}.md`);
      }
    }
  });

  test('every panel has a description; data panels name where their numbers come from', () => {
    for (const p of panels(dashboard)) expect({ panel: p.title, described: (p.description ?? '').length > 20 }).toEqual({ panel: p.title, described: true });
    for (const p of dataPanels(dashboard)) expect({ panel: p.title, source: /Metrics?: `|served by the controller|prom-client|sql\/benchmarks\.sql/.test(p.description!) }).toEqual({ panel: p.title, source: true });
  });
});

test('serving panels name the engine version their metric comes from, and their caveats', () => {
  for (const { name, dashboard } of DASHBOARDS.filter((d) => d.name.startsWith('serving-'))) {
    const profile = PROFILES[name.slice('serving-'.length) as keyof typeof PROFILES];
    const version = plan.models.find((m) => m.profile.engine === profile.engine)!.version;
    for (const p of dataPanels(dashboard)) expect({ panel: p.title, version: p.description!.includes(`(${profile.displayName} ${version})`) }).toEqual({ panel: p.title, version: true });
  }
  const vllm = DASHBOARDS.find((d) => d.name === 'serving-vllm')!.dashboard;
  expect(panels(vllm).find((p) => p.title === 'Error ratio')!.description).toMatch(/Not counted: .*HTTP 400/);
});

test('every alert with a panel on its signal is drawn somewhere; the table names only panels that exist', () => {
  const drawn = new Set<string>();
  for (const { dashboard, alerts } of DASHBOARDS) {
    for (const p of dataPanels(dashboard)) for (const [alert] of alerts) if (SAME_SIGNAL[alert]?.includes(p.title)) drawn.add(alert);
  }
  expect([...drawn].sort()).toEqual(Object.keys(SAME_SIGNAL).sort());
});

test('the levels follow the spec: thresholds changed in `alerts` move the rule and the panel together', () => {
  const kv = (spec: Record<string, unknown>) => {
    const p = planOrThrow({ name: 'demo', namespace: 'llm', spec: { models: [SPEC.models[0]], ...spec } as any });
    const panel = panels(stackDashboardFiles(p).find((f) => f.name === 'serving-vllm')!.dashboard).find((x) => x.title === 'KV-cache usage (worst pod/rank)')!;
    return { rule: thresholds(buildRuleFiles(p)['inference-monitoring.yaml'].groups, 'vllm').get('InferenceKVCacheSaturated')?.threshold, steps: steps(panel), description: panel.description };
  };
  // The defaults (0.95): amber from 80% of it, red from it.
  expect(kv({})).toMatchObject({ rule: 0.95, steps: [{ value: null, color: 'green' }, { value: 0.76, color: 'orange' }, { value: 0.95, color: 'red' }] });
  expect(kv({ alerts: { kvCacheUsage: 0.5 } })).toMatchObject({ rule: 0.5, steps: [{ value: null, color: 'green' }, { value: 0.4, color: 'orange' }, { value: 0.5, color: 'red' }] });
  // Alerts off: no rule, the spec's level stays on the panel and says the alert is not emitted.
  const off = kv({ alerts: { enabled: false } });
  expect(off.rule).toBeUndefined();
  expect(off.steps.map((s) => s.value)).toEqual([null, 0.76, 0.95]);
  expect(off.description).toMatch(/InferenceKVCacheSaturated, which this stack does not emit/);
});

test('the dashboards of a stack link each other by planned uid (never another stack\'s), and the controller by tag', () => {
  const uids = files.map((f) => f.dashboard.uid);
  for (const { dashboard } of files) {
    const links = dashboard.links as Array<{ type: string; url?: string; tags: string[]; placement?: string; title: string }>;
    const byUid = links.filter((l) => l.type === 'link' && l.url!.startsWith('/d/') && l.title !== 'Go to data').map((l) => l.url!.slice('/d/'.length));
    expect(byUid.sort()).toEqual(uids.filter((u) => u !== dashboard.uid).sort());
    expect(links.filter((l) => l.type === 'dashboards')).toEqual([expect.objectContaining({ tags: ['inference-monitoring', 'controller'] })]);
    // Shown on the dashboard: Grafana moves links with a placement into its controls menu.
    for (const l of links) expect(l.placement).toBeUndefined();
  }
  expect(controller.tags).toEqual(expect.arrayContaining(['inference-monitoring', 'controller']));
  // The controller's own dashboard lists every stack's dashboards by their shared tag.
  expect(controller.links).toEqual([expect.objectContaining({ type: 'dashboards', tags: ['inference-monitoring'], asDropdown: true })]);
  // A second stack on the same Grafana: its links stay among its own uids.
  const other = stackDashboardFiles(planOrThrow({ name: 'demo', namespace: 'team-b', spec: SPEC as any }));
  const otherUids = new Set(other.map((f) => f.dashboard.uid));
  for (const { dashboard } of other) {
    for (const l of (dashboard.links as Array<{ url?: string }>).filter((x) => x.url?.startsWith('/d/'))) expect(otherUids.has(l.url!.slice(3).split('/')[0])).toBe(true);
  }
  expect(uids.some((u) => otherUids.has(u))).toBe(false);
});

test('with the default runbookBaseUrl every runbook link of every dashboard opens a runbook of docs/runbooks/', () => {
  const all = [...catalogDashboards().map((d) => d.dashboard), benchmarkDashboard(), controllerDashboard()];
  const linked = new Set(all.flatMap((d) => panels(d).flatMap((p) => (p.links ?? []).map((l) => l.url))));
  expect(linked.size).toBeGreaterThan(5);
  for (const url of linked) {
    const m = /\/docs\/runbooks\/([A-Za-z]+\.md)$/.exec(url);
    expect({ url, exists: !!m && fs.existsSync(path.join(REPO, 'docs', 'runbooks', m[1])) }).toEqual({ url, exists: true });
  }
});

test('a comparison a panel cannot draw is refused, naming the alert', () => {
  const definition = { alert: 'X', signal: num(1), op: '!=' as const, threshold: 0, for: '1m', severity: 'warning' as const, summary: 's', description: 'd' };
  expect(() => alertSteps({ definition, runbookUrl: 'u', enabled: true })).toThrow("alert X: a panel cannot draw the comparison '!='");
});
