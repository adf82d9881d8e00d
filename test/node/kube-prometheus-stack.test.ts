/**
 * The kube-prometheus-stack recipe (docs/kube-prometheus-stack.md) in pods on a node that enforces NetworkPolicies:
 * the real prometheus-operator runs a Prometheus the way kube-prometheus-stack's chart configures it by default
 * (selectors `release: kube-prometheus-stack` in every namespace, its ClusterRole), in namespace `observability`,
 * not the `monitoring` our policies admit by default. Two teams each run a monitor-and-serve stack named `demo`
 * (same name, same model name) in operator mode with no Prometheus, Grafana or Tempo of their own. Beside it, a
 * stand-in for the chart's Grafana dashboard sidecar (test/harness/grafana-sidecar.ts) collects every
 * `grafana_dashboard: "1"` ConfigMap of the cluster into one folder, as the real one does.
 *
 * 1. A team that names the shared Prometheus (`networkPolicy.sharedPrometheus`) is scraped on every rank; a team
 *    that keeps the default has its rank ports refused by its own policies, until it names it.
 * 2. The Prometheus loads both teams' rules; each team's rules alert only on that team's models.
 * 3. Both teams' dashboards land side by side in the sidecar's folder; deleting one team's stack removes only its
 *    own; a ConfigMap that reuses a key (as every stack did before keys carried the stack) overwrites another's.
 */
import { stringify } from 'yaml';
import { Manifest, renderManifests } from '../../src/render';
import { InferenceMonitoringSpecInput } from '../../src/api/spec-input';
import { DEFAULT_PROMETHEUS_IMAGE } from '../../src/constructs/managed-prometheus';
import { ControlPlane, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { haveOperator, installOperatorCrds, RunningOperator, startOperator } from '../harness/operator';
import { canRunPolicyEngine } from '../harness/policy-engine';
import { waitFor as poll } from '../harness/wait';
import { clusterClient, prometheusApi } from '../harness/cluster-client';
import { READ_FOLDER, SIDECAR_FOLDER, sidecarManifests } from '../harness/grafana-sidecar';

const can = [canRunNode(), canRunPolicyEngine(), { ok: haveOperator(), why: 'prometheus-operator not built (tools/build-operator.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the kube-prometheus-stack node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 1000);

const RELEASE = 'kube-prometheus-stack';
const KPS_NS = 'observability';
const PROMETHEUS = `${RELEASE}-prometheus`;
const TEAMS = { a: 'team-a', b: 'team-b' } as const;
const engineResources = { requests: { cpu: '20m', memory: '48Mi' }, limits: { memory: '256Mi' }, sharedMemory: '64Mi' };

/** A team's monitor-and-serve stack on the shared Prometheus: LMDeploy with two data-parallel ranks (metrics-only ports). */
const teamSpec = (queueLength: number, sharedPrometheusNamespace?: string): InferenceMonitoringSpecInput => ({
  models: [{ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 }, image: ENGINE_STANDIN_IMAGE, resources: engineResources }],
  monitoring: { mode: 'operator', release: RELEASE },
  grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false }, gpuMetrics: { enabled: false },
  alerts: { queueLength },
  ...(sharedPrometheusNamespace ? { networkPolicy: { sharedPrometheus: { namespace: sharedPrometheusNamespace } } } : {}),
});

/** kube-prometheus-stack's Prometheus with the chart's default values (intervals shortened for the test). */
function kpsPrometheus(): Manifest[] {
  const labels = { app: 'kube-prometheus-stack-prometheus', release: RELEASE };
  const sel = { matchLabels: { release: RELEASE } };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: PROMETHEUS, namespace: KPS_NS, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: PROMETHEUS, labels },
      rules: [
        { apiGroups: [''], resources: ['nodes', 'nodes/metrics', 'services', 'endpoints', 'pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
        { nonResourceURLs: ['/metrics', '/metrics/cadvisor'], verbs: ['get'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: PROMETHEUS, labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: PROMETHEUS }, subjects: [{ kind: 'ServiceAccount', name: PROMETHEUS, namespace: KPS_NS }] },
    {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', metadata: { name: PROMETHEUS, namespace: KPS_NS, labels },
      spec: {
        // The chart pins an image (`prometheus.prometheusSpec.image`); here the one the node has, the managed mode's.
        image: DEFAULT_PROMETHEUS_IMAGE, version: DEFAULT_PROMETHEUS_IMAGE.split(':')[1],
        replicas: 1, serviceAccountName: PROMETHEUS,
        // The chart's defaults are 30s; shortened so the test waits less. Everything else as the chart renders it.
        scrapeInterval: '5s', evaluationInterval: '5s',
        serviceMonitorSelector: sel, serviceMonitorNamespaceSelector: {},
        podMonitorSelector: sel, podMonitorNamespaceSelector: {},
        ruleSelector: sel, ruleNamespaceSelector: {},
        probeSelector: sel, probeNamespaceSelector: {},
        scrapeConfigSelector: sel, scrapeConfigNamespaceSelector: {},
        securityContext: { runAsGroup: 2000, runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } },
      },
    },
  ];
}

runIf('the kube-prometheus-stack recipe in pods: a shared Prometheus in another namespace, two teams, the Grafana sidecar', () => {
  let cp: ControlPlane;
  let node: TestNode;
  let operator: RunningOperator;
  const { kubectl, podsOf, explain } = clusterClient(() => cp, () => `--- operator\n${operator?.logTail(15)}`);
  const apply = (objs: unknown[]) => kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], objs.map((o) => stringify(o)).join('---\n'));
  let promUrl = '';
  const { api: prom, query } = prometheusApi(() => promUrl);
  const rendered: Record<string, Manifest[]> = {};
  /** When both teams' series were in the Prometheus: rules evaluated after it have seen both. */
  let bothScrapedAt = 0;

  beforeAll(async () => {
    const images = buildNodeImages();
    cp = await startControlPlane({ forPods: true });
    await installOperatorCrds(cp);
    node = await startNode(cp, { images, gpus: 8, networkPolicy: true });
    operator = await startOperator({ kubeconfig: cp.kubeconfig });
  }, 600_000);
  afterAll(async () => {
    await operator?.stop();
    await node?.stop();
    await cp?.stop();
  }, 120_000);

  const rankTargets = async (namespace: string) => ((await prom('/api/v1/targets?state=active')).activeTargets as any[])
    .filter((t) => t.labels.namespace === namespace && t.labels.model === 'qwen')
    .map((t) => ({ port: t.labels.instance.split(':')[1], health: t.health, error: t.lastError }))
    .sort((x, y) => x.port.localeCompare(y.port));

  test('a team that names the shared Prometheus is scraped on every rank; one that keeps the default is refused by its own policies until it names it', async () => {
    for (const ns of [KPS_NS, ...Object.values(TEAMS)]) await kubectl(['create', 'namespace', ns]);
    await apply(kpsPrometheus());
    await apply(sidecarManifests({ namespace: KPS_NS, image: CONTROLLER_IMAGE }));
    rendered.a = renderManifests({ name: 'demo', namespace: TEAMS.a, spec: teamSpec(4, KPS_NS) });
    // Team b keeps networkPolicy.sharedPrometheus at its default (namespace `monitoring`).
    rendered.b = renderManifests({ name: 'demo', namespace: TEAMS.b, spec: teamSpec(20) });
    for (const t of Object.values(TEAMS)) await kubectl(['-n', t, 'create', 'secret', 'generic', 'hf-token', '--from-literal=token=test-only']);
    // Nothing of a Prometheus, Grafana or Tempo of their own: PodMonitors, a PrometheusRule, dashboards, the engine, policies.
    for (const objs of [rendered.a, rendered.b]) {
      expect([...new Set(objs.map((o) => o.kind))].sort()).toEqual(['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodMonitor', 'PrometheusRule', 'Service']);
      const selected = objs.filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule');
      expect(selected.map((o) => o.kind).sort()).toEqual(['PodMonitor', 'PrometheusRule']);
      expect(selected.map((o) => o.metadata.labels?.release)).toEqual([RELEASE, RELEASE]);
    }
    await apply([...rendered.a, ...rendered.b]);

    const [promPod] = await waitFor('kube-prometheus-stack\'s Prometheus pod Ready', async () => {
      const ps = await podsOf(KPS_NS, 'app.kubernetes.io/name=prometheus');
      return ps.length === 1 && ps[0].status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? ps : undefined;
    }, 240_000).catch(async (e) => { throw await explain(e); });
    expect(promPod.metadata.name).toBe(`prometheus-${PROMETHEUS}-0`);
    promUrl = `http://${promPod.status.podIP}:9090`;

    // Team a: both rank ports up. Team b: discovered, both refused (its policy admits a Prometheus in `monitoring` only).
    const a = await waitFor('team a up on both ranks, team b discovered on both', async () => {
      const [ta, tb] = [await rankTargets(TEAMS.a), await rankTargets(TEAMS.b)];
      return ta.length === 2 && ta.every((t) => t.health === 'up') && tb.length === 2 && tb.every((t) => t.health === 'down') ? { ta, tb } : undefined;
    }, 180_000).catch(async (e) => { throw await explain(new Error(`${e.message}\n${JSON.stringify(await prom('/api/v1/targets'))}`.slice(0, 6000))); });
    expect(a.ta.map((t) => t.port)).toEqual(['23333', '23334']);
    expect(a.tb.map((t) => t.port)).toEqual(['23333', '23334']);
    for (const t of a.tb) expect(t.error).toMatch(/deadline|timeout|refused|unreachable/i);
    // Counted once: the waiting requests of team a's two ranks (recorded from LMDeploy 0.18.0: 3 + 2).
    const waiting = await query(`sum(lmdeploy:num_requests_waiting{namespace="${TEAMS.a}", model="qwen"})`);
    expect(waiting.map((s) => s.value[1])).toEqual(['5']);

    // Team b names the shared Prometheus: the same stack re-rendered and applied.
    rendered.b = renderManifests({ name: 'demo', namespace: TEAMS.b, spec: teamSpec(20, KPS_NS) });
    await apply(rendered.b);
    await waitFor('team b up on both ranks', async () => {
      const tb = await rankTargets(TEAMS.b);
      return tb.length === 2 && tb.every((t) => t.health === 'up');
    }, 120_000);
    const byNs = await query('sum by (namespace) (lmdeploy:num_requests_waiting{model="qwen"})');
    expect(Object.fromEntries(byNs.map((s) => [s.metric.namespace, s.value[1]]))).toEqual({ [TEAMS.a]: '5', [TEAMS.b]: '5' });
    bothScrapedAt = Date.now();
  }, 600_000);

  test('the shared Prometheus loads both teams\' rules, and each team\'s rules alert only on its own models', async () => {
    const ruleFiles = async () => ((await prom('/api/v1/rules')).groups as any[]);
    // Rule files load when the operator and config-reloader get to them: wait until every group of both teams has
    // been evaluated since both teams' series were there, so an alert one team's rule raises for the other shows.
    const evaluatedAt = (x: any) => Date.parse(String(x.lastEvaluation).replace(/(\.\d{3})\d*/, '$1'));
    const groups = await waitFor('both teams\' rule groups loaded and evaluated on both teams\' series', async () => {
      const g = await ruleFiles();
      const fromTeam = (ns: string) => g.filter((x) => x.file.includes(`/${ns}-demo-prometheus-rules-`));
      const ours = [...fromTeam(TEAMS.a), ...fromTeam(TEAMS.b)];
      return fromTeam(TEAMS.a).length && fromTeam(TEAMS.b).length && ours.every((x) => evaluatedAt(x) > bothScrapedAt + 1000) ? ours : undefined;
    }, 120_000);
    const rules = groups.flatMap((g) => g.rules.map((r: any) => ({ ...r, file: g.file as string })));
    expect(rules.filter((r) => r.health !== 'ok').map((r) => [r.name, r.lastError])).toEqual([]);
    // Every alert a team's rule raises is about that team's namespace.
    const misplaced = rules.flatMap((r) => (r.alerts ?? []).map((x: any) => ({ rule: r.name, file: r.file, namespace: x.labels.namespace })))
      .filter((x) => !x.file.includes(`/${x.namespace}-demo-prometheus-rules-`));
    expect(misplaced).toEqual([]);
    // Team a's threshold (4) pages for its 5 waiting requests; team b's (20) does not, and team a's rule does not page for team b.
    const queue = rules.filter((r) => r.name === 'InferenceQueueBuildUp').flatMap((r) => (r.alerts ?? []).map((x: any) => [x.labels.namespace, x.labels.model, Number(x.value)]));
    expect(queue).toEqual([[TEAMS.a, 'qwen', 5]]);
    // Each team's recordings exist for its own model, once.
    const recordedNames = [...new Set(rules.filter((r) => r.type === 'recording').map((r) => r.name as string))];
    expect(recordedNames.length).toBeGreaterThan(3);
    const recorded = await waitFor('recorded series for both teams', async () => {
      const r = await query(`count by (namespace, model) ({__name__=~"${recordedNames.join('|')}"})`);
      return r.length >= 2 ? r : undefined;
    }, 60_000);
    expect(recorded.map((s) => `${s.metric.namespace}/${s.metric.model}`).sort()).toEqual([`${TEAMS.a}/qwen`, `${TEAMS.b}/qwen`]);
  }, 240_000);

  const readFolder = async (): Promise<Record<string, string>> => {
    const [pod] = await podsOf(KPS_NS, 'app.kubernetes.io/name=grafana-sidecar-standin');
    return JSON.parse(await kubectl(['-n', KPS_NS, 'exec', pod.metadata.name, '--', '/nodejs/bin/node', '-e', READ_FOLDER, SIDECAR_FOLDER]));
  };
  const dashboardsOf = (objs: Manifest[]) => objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
  const keysOf = (objs: Manifest[]) => dashboardsOf(objs).flatMap((o) => Object.keys(o.data)).sort();

  test('both teams\' dashboards land side by side in the sidecar\'s folder; deleting one stack removes only its own', async () => {
    const a = keysOf(rendered.a);
    const b = keysOf(rendered.b);
    expect(a.length).toBeGreaterThanOrEqual(2);
    expect(a.filter((k) => b.includes(k))).toEqual([]);
    const files = await waitFor('every dashboard of both teams in the folder', async () => {
      const f = await readFolder();
      return [...a, ...b].every((k) => k in f) ? f : undefined;
    }, 60_000);
    // Byte for byte what each stack rendered; distinct uids and titles (Grafana refuses a second dashboard with either).
    for (const cm of dashboardsOf([...rendered.a, ...rendered.b])) for (const [k, v] of Object.entries<string>(cm.data)) expect({ k, same: files[k] === v }).toEqual({ k, same: true });
    const parsed = [...a, ...b].map((k) => JSON.parse(files[k]));
    expect(new Set(parsed.map((d) => d.uid)).size).toBe(parsed.length);
    expect(new Set(parsed.map((d) => d.title)).size).toBe(parsed.length);
    for (const d of parsed) expect(d.uid.length).toBeLessThanOrEqual(40);

    // Team b uninstalls its stack.
    await kubectl(['delete', '--wait=true', '-f', '-'], rendered.b.map((o) => stringify(o)).join('---\n'));
    const after = await waitFor('team b\'s dashboards gone', async () => {
      const f = await readFolder();
      return b.every((k) => !(k in f)) ? f : undefined;
    }, 60_000);
    expect(a.filter((k) => !(k in after))).toEqual([]);
  }, 180_000);

  test('the folder is keyed by data key alone: a ConfigMap elsewhere with one of team a\'s keys replaces its file, and deleting it removes it', async () => {
    // What every stack did before dashboard keys carried the stack: the same key from another namespace.
    const original = dashboardsOf(rendered.a)[0];
    const key = Object.keys(original.data)[0];
    await kubectl(['create', 'namespace', 'team-c']);
    const copy = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old-style', namespace: 'team-c', labels: { grafana_dashboard: '1' } }, data: { [key]: '{"uid":"other","title":"other"}' } };
    await apply([copy]);
    await waitFor('the copy replaced team a\'s file', async () => (await readFolder())[key] === copy.data[key], 60_000);
    await kubectl(['-n', 'team-c', 'delete', 'configmap', 'old-style']);
    await waitFor('deleting the copy removed team a\'s dashboard', async () => !(key in await readFolder()), 60_000);
  }, 120_000);
});
