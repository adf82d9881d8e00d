/**
 * Multi-node models (issue #29, item 5) on a real node: a stack whose three models each span two pods, rendered by
 * the library (renderManifests, the path the CLI and the controller take), applied as node-e2e applies manifests,
 * reconciled by the real LeaderWorkerSet controller with its webhooks (test/harness/lws.ts), scraped by the stack's
 * own managed Prometheus in a pod with NetworkPolicies enforced (kube-router).
 *
 *   vLLM 0.34.0    hybrid (tensor 1, data 4, nodes 2)         every pod an API server for its 2 local engines
 *   SGLang 0.5.23  native (tensor 4, nodes 2)                 node 0 the API server, node 1 a dummy health server
 *   LMDeploy 0.18.0 native (tensor 1, data 4, expert, nodes 2) every pod one API server per local rank on port + i
 *
 * Every pod runs the engine stand-in (tools/images/standin), which checks its command line with the release's
 * recorded parser, picks its role in the group from it, and serves that pod's /metrics as recorded from the
 * engine's own code (test/fixtures/engines/<engine>-<version>/multinode/<mode>/). What is checked here: the LWS
 * controller makes the planned pods with our labels and per-role probes; Prometheus discovers exactly the planned
 * rank targets (`group.targetsPerGroup`), each with its `group` and `worker` labels, all up; each recorded series
 * arrives exactly once (SGLang's worker: scraped for `up`, its samples, every one a copy of the leader's, dropped);
 * the dashboards' own queries (src/promql/signals.ts) count every rank once.
 *
 * Then the same resource through our controller (a host process, test/harness/controller-process.ts) in a second
 * namespace: its status reports each model's groups ready from the LeaderWorkerSet status; a deleted worker takes its
 * group down (the status says so) and LeaderWorkerSet recreates it whole, with all its targets again; a worker rank
 * that stops answering while its pod stays Ready is seen only by the group alerts (src/alerts/rules.ts groupAlerts),
 * which the stack's Prometheus evaluates: InferenceModelRankTargetsMissing and InferenceModelGroupDegraded turn
 * pending (their `for:` is fixed at 5 and 10 minutes; pending proves the expression fires, promtool's rule tests in
 * test/component/alert-rules.test.ts prove the firing). A group whose recording has requests running and counters
 * that never move is InferenceModelGroupStalled until tokens are generated (the stand-in's POST /standin/add moves a
 * counter on); a group recreated a fourth time within the hour is InferenceModelGroupRestartStorm, its value the
 * leader addresses Prometheus saw.
 *
 * All pods share one node, as a group's ranks would not; no rendezvous happens (the stand-in only parses its
 * arguments). The expected numbers are read from the recordings, never written here.
 */
import * as fs from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { renderManifests, stackInputFromResource } from '../../src/render';
import { planStack } from '../../src/plan/plan';
import { ModelPlan } from '../../src/plan/types';
import { configYaml } from '../../src/config-yaml';
import { recommendedAlertmanagerConfig } from '../../src/alerts/alertmanager-config';
import { GROUP_RESTARTS_PER_HOUR } from '../../src/alerts/rules';
import { m as matcher, print } from '../../src/promql/ast';
import { gaugeTotal, signalAlternatives } from '../../src/promql/signals';
import { SignalName } from '../../src/engines/profile';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, installCrd, NODE_NAME, startControlPlane } from '../harness/control-plane';
import { ControllerProcess, startControllerProcess } from '../harness/controller-process';
import { buildNodeImages, CONFIG_RELOADER_IMAGE, ENGINE_STANDIN_IMAGE, PAUSE_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { canRunPolicyEngine } from '../harness/policy-engine';
import { clusterClient, prometheusApi } from '../harness/cluster-client';
import { waitFor as poll } from '../harness/wait';
import { ENGINE_FIXTURES } from '../harness/engine-fixtures';
import { haveLws, installLwsCrds, LWS_LABELS, lwsPods, RunningLws, startLws, waitForLws, waitForLwsReadyReplicas } from '../harness/lws';

const can = [canRunNode(), canRunPolicyEngine(), { ok: haveLws(), why: 'LeaderWorkerSet not built (tools/build-lws.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the multi-node node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;

/** The manifests path (renderManifests + kubectl apply) and the controller's path, side by side. */
const NS = 'llm';
const NS_CONTROLLER = 'llm-ctl';
const NAME = 'mn';
const MODEL = 'deepseek-ai/DeepSeek-V2-Lite';
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 500);

/** The three multi-node models, each with the recording of the role its pods play (engine-version/multinode/mode). */
const MODELS = [
  { name: 'dsv', engine: 'vllm', version: '0.34.0', recording: 'dp-hybrid', parallelism: { tensor: 1, data: 4, nodes: 2, multiNodeMode: 'hybrid' } },
  { name: 'dss', engine: 'sglang', version: '0.5.23', recording: 'tp', parallelism: { tensor: 4, nodes: 2, multiNodeMode: 'native' } },
  { name: 'dsl', engine: 'lmdeploy', version: '0.18.0', recording: 'dp', parallelism: { tensor: 1, data: 4, expert: true, nodes: 2, multiNodeMode: 'native' } },
] as const;
type ModelName = typeof MODELS[number]['name'];

function resource(namespace = NS): any {
  const small = { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '128Mi' }, sharedMemory: '16Mi' };
  return {
    apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: NAME, namespace },
    spec: {
      models: MODELS.map((x) => ({
        name: x.name, model: MODEL, engine: x.engine, engineVersion: x.version, image: ENGINE_STANDIN_IMAGE, resources: small,
        gpu: { count: 2 }, parallelism: x.parallelism,
        // The release the stand-in plays (its recorded parser and recordings); the engine image would be that release.
        env: [{ name: 'STANDIN_ENGINE_VERSION', value: x.version }],
      })),
      monitoring: { interval: '5s', evaluationInterval: '5s' },
    },
  };
}

// ---- the recordings: what each pod of each mode serves, read from the files -------------------------------------
interface RecordedPort { port: number; file: string; labels?: Record<string, string[]> }
interface RecordedPod { index: number; role: string; metricsPorts: RecordedPort[] }
interface Layout { engine: string; version: string; mode: string; groupSize: number; pods: RecordedPod[] }
interface Sample { name: string; labels: Record<string, string>; value: number }

const recordingDir = (x: typeof MODELS[number]) => path.join(ENGINE_FIXTURES, `${x.engine}-${x.version}`, 'multinode', x.recording);
const layoutOf = (x: typeof MODELS[number]): Layout => JSON.parse(fs.readFileSync(path.join(recordingDir(x), 'layout.json'), 'utf8'));

function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const mm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!mm) continue;
    const labels: Record<string, string> = {};
    for (const l of (mm[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: mm[1], labels, value: Number(mm[4]) });
  }
  return out;
}
/** Every sample of the engine's own series (`<engine>:`) over every pod and port of the recording. */
function recordedSamples(x: typeof MODELS[number]): Sample[] {
  return layoutOf(x).pods.flatMap((p) => p.metricsPorts.flatMap((port) => parseProm(fs.readFileSync(path.join(recordingDir(x), port.file), 'utf8'))))
    .filter((s) => s.name.startsWith(`${x.engine}:`));
}
const statsOf = (x: typeof MODELS[number]) => JSON.parse(fs.readFileSync(path.join(recordingDir(x), 'stats.json'), 'utf8')) as { ranks: Array<{ rank: number; after: { running: number; waiting: number } }> };
const seriesKey = (name: string, labels: Record<string, string>, keep: readonly string[]) =>
  `${name}{${keep.filter((k) => labels[k] !== undefined && labels[k] !== '').sort().map((k) => `${k}="${labels[k]}"`).join(',')}}`;
const sameValue = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || a === b;

const ready = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

runIf(can.ok ? 'on a real node: multi-node models as LeaderWorkerSet groups, every rank scraped once' : `on a real node: multi-node models: SKIPPED, ${can.why}`, () => {
  let cp: ControlPlane;
  let node: TestNode;
  let lws: RunningLws;
  let controller: ControllerProcess | undefined;
  const { kubectl, getJson, podsOf, explain } = clusterClient(() => cp, () => `--- lws-controller-manager\n${lws?.logTail(20)}\n--- kubelet\n${node?.logTail('kubelet', 15)}`);
  const explained = async <T>(p: Promise<T>) => p.catch(async (e) => { throw await explain(e); });
  let promUrl = '';
  const { api: prom, query } = prometheusApi(() => promUrl);
  const value = async (q: string) => (await query(q)).map((s) => Number(s.value[1]));

  const cr = resource();
  const input = stackInputFromResource(cr);
  if (!input.ok) throw new Error(`the resource is invalid: ${JSON.stringify(input.errors)}`);
  const planned = planStack(input.value);
  if (!planned.ok) throw new Error(`the resource does not plan: ${JSON.stringify(planned.errors)}`);
  const planOf = (name: ModelName): ModelPlan => planned.value.models.find((x) => x.spec.name === name)!;
  const lwsName = (name: ModelName) => planOf(name).objectName;
  const t0 = Date.now();
  const marks: string[] = [];
  const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  beforeAll(async () => {
    // What these pods run: the sandbox, the stand-in and Prometheus (Grafana, Tempo, DCGM and Alertmanager stay unpulled).
    const wanted = [PAUSE_IMAGE, ENGINE_STANDIN_IMAGE, CONFIG_RELOADER_IMAGE];
    const images = buildNodeImages().filter((i) => wanted.includes(i.name) || i.archive.endsWith('/prometheus.tar'));
    mark('images');
    cp = await startControlPlane({ forPods: true });
    await installLwsCrds(cp);
    const [l, n] = await Promise.allSettled([startLws(cp), startNode(cp, { images, gpus: 32, networkPolicy: true })]);
    if (l.status === 'fulfilled') lws = l.value;
    if (n.status === 'fulfilled') node = n.value;
    for (const r of [l, n]) if (r.status === 'rejected') throw r.reason;
    for (const ns of [NS, NS_CONTROLLER]) await kubectl(['create', 'namespace', ns]);
    mark('node and LWS up');
  }, 600_000);
  afterAll(async () => {
    mark('tests done');
    if (controller?.alive()) await controller.terminate();
    await lws?.stop();
    await node?.stop();
    await cp?.stop();
    mark('stopped');
    // eslint-disable-next-line no-console
    console.log(`multi-node node test: ${marks.join(', ')}`);
  }, 120_000);

  test('the plan: per model the recorded roles, their /metrics ports and the expected rank targets per group', () => {
    for (const x of MODELS) {
      const g = planOf(x.name).group!;
      const l = layoutOf(x);
      expect({ model: x.name, size: g.size, leader: g.leader.metricsEndpoints.map((e) => e.port), worker: g.worker.metricsEndpoints.map((e) => e.port) })
        .toEqual({ model: x.name, size: l.groupSize, leader: l.pods[0].metricsPorts.map((p) => p.port), worker: l.pods[1].metricsPorts.map((p) => p.port) });
      expect(g.targetsPerGroup).toBe(l.pods.reduce((n, p) => n + p.metricsPorts.length, 0));
    }
    expect(MODELS.map((x) => [x.name, planOf(x.name).group!.targetsPerGroup])).toEqual([['dsv', 2], ['dss', 2], ['dsl', 4]]);
  });

  test('the rendered stack applies; the LeaderWorkerSet controller makes leader + worker per model with our labels, every pod Ready with its role\'s probes', async () => {
    await kubectl(['-n', NS, 'create', 'secret', 'generic', `${NAME}-alertmanager`,
      `--from-literal=alertmanager.yaml=${configYaml(recommendedAlertmanagerConfig({ webhook: { url: 'http://127.0.0.1:9/' } }))}`]);
    const manifests = renderManifests({ name: NAME, namespace: NS, spec: cr.spec });
    expect(manifests.filter((o) => o.kind === 'LeaderWorkerSet').map((o) => o.metadata.name).sort()).toEqual(MODELS.map((x) => lwsName(x.name)).sort());
    expect(manifests.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'inference')).toEqual([]);
    await kubectl(['apply', '--server-side', '-f', '-'], manifests.map((o) => stringify(o)).join('---\n'));

    for (const x of MODELS) await explained(waitForLwsReadyReplicas(cp, NS, lwsName(x.name), 1, 240_000));
    for (const x of MODELS) await groupNetwork(NS, x.name);
    for (const x of MODELS) {
      const name = lwsName(x.name);
      const g = planOf(x.name).group!;
      const pods = await lwsPods(cp, NS, name);
      const byName = Object.fromEntries(pods.map((p) => [p.metadata.name, p]));
      expect(Object.keys(byName).sort()).toEqual([`${name}-0`, `${name}-0-1`]);
      for (const [p, index] of [[byName[`${name}-0`], '0'], [byName[`${name}-0-1`], '1']] as const) {
        expect(p.spec.nodeName).toBe(NODE_NAME);
        expect({ pod: p.metadata.name, ready: ready(p) }).toEqual({ pod: p.metadata.name, ready: true });
        expect(p.metadata.labels).toMatchObject({
          ...planOf(x.name).selectorLabels, 'monitoring.inference.dev/engine': x.engine, 'app.kubernetes.io/instance': NAME,
          [LWS_LABELS.name]: name, [LWS_LABELS.groupIndex]: '0', [LWS_LABELS.workerIndex]: index,
        });
        const engine = p.spec.containers.find((c: any) => c.name === 'engine');
        const role = index === '0' ? g.leader : g.worker;
        // Probes per role: the engine's health route where it tells the truth, a TCP check on SGLang's dummy server.
        if (role.probes === 'tcp') {
          expect(engine.readinessProbe.tcpSocket).toEqual({ port: role.metricsEndpoints[0].port });
          expect(engine.readinessProbe.httpGet).toBeUndefined();
        } else {
          expect(engine.readinessProbe.httpGet.port).toBe(role.metricsEndpoints[0]?.port ?? planOf(x.name).metricsEndpoints[0].port);
        }
        // The stand-in plays the recorded pod of the recorded mode, chosen from the command line the kubelet expanded.
        const log = await kubectl(['-n', NS, 'logs', p.metadata.name, '-c', 'engine']);
        expect(log).toContain('command line accepted by its recorded parser');
        expect(log).toContain(`pod ${index} (${index === '0' ? 'leader' : 'worker'}) of ${x.engine} ${x.version} mode ${x.recording}`);
      }
    }
    const probeKinds = Object.fromEntries(MODELS.map((x) => [x.name, [planOf(x.name).group!.leader.probes, planOf(x.name).group!.worker.probes]]));
    expect(probeKinds).toEqual({ dsv: ['engine', 'engine'], dss: ['engine', 'tcp'], dsl: ['engine', 'engine'] });
  }, 360_000);

  /** The discovered targets of a model once exactly `n` are up, each with its pod, group and worker. */
  const targetsUp = (name: ModelName, n: number, timeoutMs = 90_000) => waitFor(`${n} targets of ${name} up`, async () => {
    const targets = ((await prom('/api/v1/targets?state=active')).activeTargets as any[]).filter((t) => t.labels.model === name);
    // Only our pods' targets (a pod being deleted has left discovery once it is not Running).
    return targets.length === n && targets.every((t) => t.health === 'up') ? targets : undefined;
  }, timeoutMs).catch(async (e) => {
    const all = ((await prom('/api/v1/targets?state=active').catch(() => ({ activeTargets: [] }))).activeTargets as any[]).filter((t) => t.labels.model === name);
    throw new Error(`${e.message}\n${JSON.stringify(all.map((t) => [t.scrapeUrl, t.health, t.lastError, t.labels.pod]))}`);
  });

  /** What each pod of the model's group should be scraped on: pod IP and port, group and worker index. */
  async function expectedTargets(x: typeof MODELS[number], namespace = NS) {
    const g = planOf(x.name).group!;
    const pods = await lwsPods(cp, namespace, lwsName(x.name));
    return pods.flatMap((p) => {
      const worker = p.metadata.labels[LWS_LABELS.workerIndex];
      const role = worker === '0' ? g.leader : g.worker;
      return role.metricsEndpoints.map((e) => ({ url: `http://${p.status.podIP}:${e.port}/metrics`, namespace, pod: p.metadata.name, group: '0', worker, model: x.name, inference_engine: x.engine }));
    }).sort((a, b) => a.url.localeCompare(b.url));
  }

  /** Points the Prometheus API at the stack's own Prometheus pod in `namespace`. */
  const usePrometheusOf = async (namespace: string) => {
    const [promPod] = await explained(waitFor(`Prometheus pod Ready in ${namespace}`, async () => {
      const ps = await podsOf(namespace, 'app.kubernetes.io/component=prometheus');
      return ps.length === 1 && ready(ps[0]) ? ps : undefined;
    }, 180_000));
    promUrl = `http://${promPod.status.podIP}:9090`;
  };

  test('the managed Prometheus discovers exactly the planned rank targets per model, each with group and worker labels, all up', async () => {
    await usePrometheusOf(NS);
    for (const x of MODELS) {
      const n = planOf(x.name).group!.targetsPerGroup;
      const targets = await targetsUp(x.name, n);
      const got = targets.map((t) => ({ url: t.scrapeUrl, namespace: t.labels.namespace, pod: t.labels.pod, group: t.labels.group, worker: t.labels.worker, model: t.labels.model, inference_engine: t.labels.inference_engine }))
        .sort((a, b) => a.url.localeCompare(b.url));
      expect(got).toEqual(await expectedTargets(x));
      // Stable: a few scrapes later still exactly these, and `up` says the same.
      await new Promise((r) => setTimeout(r, 6000));
      const up = await query(`up{model="${x.name}"}`);
      expect(up.map((s) => [s.metric.instance, s.metric.group, s.metric.worker, s.value[1]]).sort())
        .toEqual(got.map((t) => [new URL(t.url).host, '0', t.worker, '1']).sort());
    }
  }, 300_000);

  test('every recorded series arrives exactly once, from the pod and port that serve it in the engine; each rank\'s series from one place only', async () => {
    for (const x of MODELS) {
      const l = layoutOf(x);
      const g = planOf(x.name).group!;
      const rankLabels = x.engine === 'sglang' ? ['tp_rank', 'dp_rank'] : ['engine'];
      // Per pod and port: its recorded samples (series without a rank label, e.g. vLLM's per-API-server counters,
      // are each server's own and repeat on every pod).
      const allTargets = l.pods.flatMap((pod) => pod.metricsPorts.map((port) => ({
        pod: pod.index,
        where: `worker=${pod.index} port=${port.port}`,
        samples: parseProm(fs.readFileSync(path.join(recordingDir(x), port.file), 'utf8')).filter((y) => y.name.startsWith(`${x.engine}:`)),
      })));
      // Workers whose series repeat the leader's (SGLang's other tensor-parallel ranks) are scraped for `up` only, their
      // samples dropped at scrape: the recordings must bear that out, sample by sample (same series but for the
      // duplicate rank labels, same value on the leader).
      const perTarget = g.worker.duplicatesLeader ? allTargets.filter((t) => t.pod === 0) : allTargets;
      if (g.worker.duplicatesLeader) {
        const dup = planOf(x.name).profile.duplicateLabels ?? [];
        const onLeader = new Set(allTargets.filter((t) => t.pod === 0).flatMap((t) => t.samples)
          .map((y) => `${seriesKey(y.name, y.labels, Object.keys(y.labels).filter((k) => !dup.includes(k)))} ${y.value}`));
        const workerSamples = allTargets.filter((t) => t.pod !== 0).flatMap((t) => t.samples);
        expect(workerSamples.length).toBeGreaterThan(20);
        expect(workerSamples.filter((y) => !onLeader.has(`${seriesKey(y.name, y.labels, Object.keys(y.labels).filter((k) => !dup.includes(k)))} ${y.value}`))).toEqual([]);
        expect(await query(`count({model="${x.name}", worker!="0", __name__=~"${x.engine}:.+"})`)).toEqual([]);
      }
      const fileLabels = [...new Set(perTarget.flatMap((t) => t.samples.flatMap((y) => Object.keys(y.labels))))];
      const expected = new Map<string, number>();
      const rankSeriesAt = new Map<string, string[]>();
      for (const t of perTarget) {
        for (const y of t.samples) {
          const k = seriesKey(y.name, y.labels, fileLabels);
          expect({ model: x.name, series: `${t.where} ${k}`, duplicate: expected.has(`${t.where} ${k}`) }).toEqual({ model: x.name, series: `${t.where} ${k}`, duplicate: false });
          expected.set(`${t.where} ${k}`, y.value);
          if (rankLabels.some((r) => y.labels[r] !== undefined)) rankSeriesAt.set(k, [...(rankSeriesAt.get(k) ?? []), t.where]);
        }
      }
      // A series of a rank is served by one pod and port of the group only.
      expect([...rankSeriesAt].filter(([, at]) => at.length > 1)).toEqual([]);
      expect(rankSeriesAt.size).toBeGreaterThan(10);
      const got = await waitFor(`every series of ${x.name}`, async () => {
        const r = await query(`{model="${x.name}", __name__=~"${x.engine}:.+"}`);
        return r.length >= expected.size ? r : undefined;
      }, 60_000);
      const seen = new Map<string, number>();
      for (const y of got) {
        const { __name__: name, ...labels } = y.metric;
        const k = `worker=${labels.worker} port=${labels.instance.split(':').pop()} ${seriesKey(name, labels, fileLabels)}`;
        expect({ model: x.name, series: k, twice: seen.has(k) }).toEqual({ model: x.name, series: k, twice: false });
        seen.set(k, Number(y.value[1]));
      }
      expect({ model: x.name, series: [...seen.keys()].sort() }).toEqual({ model: x.name, series: [...expected.keys()].sort() });
      expect([...expected].filter(([k, v]) => !sameValue(v, seen.get(k)!))).toEqual([]);
    }
  }, 180_000);

  test('values counted once: running and waiting by the dashboards\' own queries equal the recorded ranks\' sum; each global rank once', async () => {
    const report: string[] = [];
    for (const x of MODELS) {
      const p = planOf(x.name);
      const scope = { matchers: [matcher('model', '=', x.name)], window: '1m' };
      const samples = recordedSamples(x);
      const stats = statsOf(x);
      for (const [signal, fed] of [['requestsRunning', 'running'], ['requestsWaiting', 'waiting']] as const) {
        const alts = signalAlternatives(p.profile, signal as SignalName, [p.version]);
        expect(alts.length).toBe(1);
        const metric = alts[0];
        // The expected total from the files: each series of a rank once; where the engine repeats one rank's value on
        // several workers (SGLang: tp_rank/pp_rank/moe_ep_rank, rankAggregation max) that value once.
        const dup = metric.rankAggregation === 'max' ? p.profile.duplicateLabels ?? [] : [];
        const perRank = new Map<string, number>();
        for (const s of samples.filter((y) => y.name === metric.metric)) {
          const k = seriesKey(s.name, s.labels, Object.keys(s.labels).filter((l) => !dup.includes(l)));
          perRank.set(k, Math.max(perRank.get(k) ?? -Infinity, s.value));
        }
        const fromFiles = [...perRank.values()].reduce((a, b) => a + b, 0);
        // ...which is what was fed to the engine's metric code when it was recorded.
        expect({ model: x.name, signal, fromFiles }).toEqual({ model: x.name, signal, fromFiles: stats.ranks.reduce((n, r) => n + r.after[fed], 0) });
        const expr = print(gaugeTotal(p.profile, alts, scope, []));
        const got = await value(expr);
        expect({ model: x.name, signal, expr, got }).toEqual({ model: x.name, signal, expr, got: [fromFiles] });
        report.push(`${x.name} ${signal}: expected ${fromFiles}, Prometheus ${got[0]} (${expr})`);
      }
      const running = signalAlternatives(p.profile, 'requestsRunning', [p.version])[0].metric;
      const rankLabel = p.group!.rankLabel ?? p.profile.rankLabel ?? '';
      if (x.engine === 'sglang') {
        // One DP group: no dp_rank at all. Every tensor rank counts the same requests' queue times: the recordings have
        // the 4 ranks split 2 + 2 over the pods; the worker's copies are dropped at scrape, so the leader's 2 remain
        // (each once), and the dashboards collapse those with max over the duplicate labels.
        expect(await query(`count(${running}{model="${x.name}", dp_rank!=""})`)).toEqual([]);
        const recordedTp = [...new Set(layoutOf(x).pods.flatMap((pod) => pod.metricsPorts.flatMap((port) => port.labels?.tp_rank ?? [])))].sort();
        expect(recordedTp).toEqual(['0', '1', '2', '3']);
        const byRank = await query(`count by (tp_rank, worker) (sglang:queue_time_seconds_count{model="${x.name}"})`);
        expect(byRank.map((s) => [s.metric.tp_rank, s.metric.worker, s.value[1]]).sort()).toEqual([['0', '0', '1'], ['1', '0', '1']]);
        const fed = recordedSamples(x).filter((y) => y.name === 'sglang:queue_time_seconds_count' && y.labels.tp_rank === '0').map((y) => y.value);
        expect(await value(`sum(max without (${p.profile.duplicateLabels!.join(', ')}) (sglang:queue_time_seconds_count{model="${x.name}"}))`)).toEqual(fed);
        report.push(`${x.name} tp ranks: recorded ${recordedTp.length} (0-1 leader, 2-3 worker); scraped once each on the leader, the worker's duplicates dropped (its up kept); queue-time count ${fed[0]} once`);
      } else {
        expect(rankLabel).toBe('engine');
        const byRank = await query(`count by (${rankLabel}) (${running}{model="${x.name}"})`);
        const recordedRanks = [...new Set(layoutOf(x).pods.flatMap((pod) => pod.metricsPorts.flatMap((port) => port.labels?.engine ?? [])))].sort();
        expect(recordedRanks).toEqual(['0', '1', '2', '3']);
        expect(byRank.map((s) => [s.metric[rankLabel], s.value[1]]).sort()).toEqual(recordedRanks.map((r) => [r, '1']));
        expect(await value(`count(count by (${rankLabel}) (${running}{model="${x.name}"}))`)).toEqual([4]);
        // Global ranks per pod: the leader the first dataLocal, the worker the next.
        const byPod = await query(`count by (${rankLabel}, worker) (${running}{model="${x.name}"})`);
        const local = p.group!.dataLocal;
        expect(byPod.map((s) => [s.metric[rankLabel], s.metric.worker]).sort()).toEqual(recordedRanks.map((r) => [r, String(Math.floor(Number(r) / local))]));
        report.push(`${x.name} ${rankLabel} ranks: ${byRank.length} distinct, each once`);
      }
    }
    // eslint-disable-next-line no-console
    console.log(report.join('\n'));
  }, 120_000);

  // ---- the controller's path ----------------------------------------------------------------------------------
  /**
   * The model's Service is ours (leaders only, for clients); LeaderWorkerSet's headless Service for the group is its
   * own, named after the leader pod, and the workers find the leader through it (LWS_LEADER_ADDRESS).
   */
  const groupNetwork = async (ns: string, model: ModelName) => {
    const name = lwsName(model);
    const ours = await getJson(['-n', ns, 'get', 'service', name]);
    expect(ours.metadata.labels['app.kubernetes.io/managed-by']).toBe('inference-monitoring');
    expect(ours.spec.clusterIP).not.toBe('None');
    expect(ours.spec.selector[LWS_LABELS.workerIndex]).toBe('0');
    expect((ours.metadata.ownerReferences ?? []).filter((o: any) => o.kind !== 'InferenceMonitoring')).toEqual([]);
    const headless = await getJson(['-n', ns, 'get', 'service', `${name}-0`]);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.selector).toEqual({ [LWS_LABELS.name]: name, [LWS_LABELS.groupIndex]: '0' });
    expect(headless.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: `${name}-0` })]);
    const pods = await lwsPods(cp, ns, name);
    expect(pods.map((p) => p.spec.subdomain)).toEqual([`${name}-0`, `${name}-0`]);
    const env = (p: any) => Object.fromEntries(p.spec.containers.find((c: any) => c.name === 'engine').env.map((e: any) => [e.name, e.value]));
    for (const p of pods) expect(env(p).LWS_LEADER_ADDRESS).toBe(`${name}-0.${name}-0.${ns}`);
  };

  const statusOf = async () => (await getJson(['-n', NS_CONTROLLER, 'get', 'inferencemonitoring', NAME])).status;
  const modelStatus = async (name: ModelName) => (await statusOf())?.models?.find((x: any) => x.name === name);

  test('the same resource through the controller: it applies the LeaderWorkerSets as rendered and reports each model\'s groups ready', async () => {
    // The manifests path's stack goes (the garbage collector removes its pods meanwhile).
    await kubectl(['-n', NS, 'delete', 'leaderworkerset,statefulset,deployment,daemonset', '--all', '--wait=false']);
    await installCrd(cp, inferenceMonitoringCrd());
    await kubectl(['wait', '--for=condition=Established', 'crd/inferencemonitorings.monitoring.inference.dev', '--timeout=60s']);
    await kubectl(['-n', NS_CONTROLLER, 'create', 'secret', 'generic', `${NAME}-alertmanager`,
      `--from-literal=alertmanager.yaml=${configYaml(recommendedAlertmanagerConfig({ webhook: { url: 'http://127.0.0.1:9/' } }))}`]);
    controller = await startControllerProcess({ kubeconfig: cp.kubeconfig, dir: cp.dir, name: 'controller', args: [`--namespace=${NS_CONTROLLER}`, '--resync-seconds=30'] });
    await kubectl(['apply', '--server-side', '-f', '-'], stringify(resource(NS_CONTROLLER)));
    const status = await explained(waitFor('InferenceMonitoring Ready', async () => {
      if (!controller!.alive()) throw new Error(`the controller exited:\n${controller!.log().slice(-3000)}`);
      const st = await statusOf();
      return st?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? st : undefined;
    }, 240_000));
    expect(status.modelsReady).toBe('3/3');
    expect(status.models).toEqual(MODELS.map((x) => ({ name: x.name, replicas: 1, readyReplicas: 1, podsPerReplica: 2, ready: true })));
    const rendered = renderManifests({ name: NAME, namespace: NS_CONTROLLER, spec: resource(NS_CONTROLLER).spec });
    for (const x of MODELS) {
      const live = await getJson(['-n', NS_CONTROLLER, 'get', 'leaderworkerset', lwsName(x.name)]);
      expect(live.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'InferenceMonitoring', name: NAME, controller: true })]);
      expect(live.spec).toMatchObject(rendered.find((o) => o.kind === 'LeaderWorkerSet' && o.metadata.name === lwsName(x.name))!.spec);
    }
    for (const x of MODELS) await groupNetwork(NS_CONTROLLER, x.name);
    // Its Prometheus finds the same planned targets.
    await usePrometheusOf(NS_CONTROLLER);
    for (const x of MODELS) {
      const targets = await targetsUp(x.name, planOf(x.name).group!.targetsPerGroup, 120_000);
      const got = targets.map((t) => ({ url: t.scrapeUrl, namespace: t.labels.namespace, pod: t.labels.pod, group: t.labels.group, worker: t.labels.worker, model: t.labels.model, inference_engine: t.labels.inference_engine }))
        .sort((a, b) => a.url.localeCompare(b.url));
      expect(got).toEqual(await expectedTargets(x, NS_CONTROLLER));
    }
  }, 360_000);

  test('deleting the vLLM worker pod: the group goes down and the status says so; LeaderWorkerSet recreates it whole; it comes back with all its targets', async () => {
    const x = MODELS[0];
    const name = lwsName(x.name);
    const before = Object.fromEntries((await lwsPods(cp, NS_CONTROLLER, name)).map((p) => [p.metadata.name, p.metadata.uid]));
    expect(Object.keys(before).sort()).toEqual([`${name}-0`, `${name}-0-1`]);
    await kubectl(['-n', NS_CONTROLLER, 'delete', 'pod', `${name}-0-1`, '--wait=false']);
    await explained(waitForLws(cp, NS_CONTROLLER, name, 'readyReplicas 0', (l) => (l.status?.readyReplicas ?? 0) === 0, 60_000));
    const down = await explained(waitFor('the status: no dsv group ready', async () => {
      const st = await statusOf();
      const entry = st?.models?.find((y: any) => y.name === x.name);
      return entry?.readyReplicas === 0 ? st : undefined;
    }, 60_000));
    expect(down.models.find((y: any) => y.name === x.name)).toEqual({ name: x.name, replicas: 1, readyReplicas: 0, podsPerReplica: 2, ready: false });
    expect(down.conditions.find((c: any) => c.type === 'Ready').status).toBe('False');
    expect(down.modelsReady).toBe('2/3');

    await explained(waitForLwsReadyReplicas(cp, NS_CONTROLLER, name, 1, 180_000));
    const after = await explained(waitFor('two new Ready pods', async () => {
      const ps = await lwsPods(cp, NS_CONTROLLER, name);
      return ps.length === 2 && ps.every((p) => ready(p) && !p.metadata.deletionTimestamp) ? ps : undefined;
    }));
    // Not only the worker: the leader was recreated too (RecreateGroupOnPodRestart).
    for (const p of after) expect({ pod: p.metadata.name, recreated: p.metadata.uid !== before[p.metadata.name] }).toEqual({ pod: p.metadata.name, recreated: true });
    const events = await getJson(['-n', NS_CONTROLLER, 'get', 'events', '--field-selector', `involvedObject.kind=LeaderWorkerSet,involvedObject.name=${name},reason=RecreateGroup`]);
    expect(events.items.map((e: any) => e.message)).toContain(`Worker pod ${name}-0-1 failed, deleted leader pod ${name}-0 to recreate group 0`);
    const up = await explained(waitFor('the status: the group ready again', async () => {
      const st = await statusOf();
      return st?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? st : undefined;
    }, 90_000));
    expect(up.models.find((y: any) => y.name === x.name)).toEqual({ name: x.name, replicas: 1, readyReplicas: 1, podsPerReplica: 2, ready: true });
    // Prometheus finds the new pods: exactly the planned targets again, and the four engines once each.
    const targets = await targetsUp(x.name, planOf(x.name).group!.targetsPerGroup, 120_000);
    const got = targets.map((t) => ({ url: t.scrapeUrl, namespace: t.labels.namespace, pod: t.labels.pod, group: t.labels.group, worker: t.labels.worker, model: t.labels.model, inference_engine: t.labels.inference_engine }))
      .sort((a, b) => a.url.localeCompare(b.url));
    expect(got).toEqual(await expectedTargets(x, NS_CONTROLLER));
    const newIps = after.map((p) => p.status.podIP);
    const counted = await waitFor('the new pods\' engines, each once', async () => {
      const r = await query(`count by (engine, instance) (vllm:num_requests_running{model="${x.name}"})`);
      return r.length === 4 && r.every((y) => newIps.includes(y.metric.instance.split(':')[0]) && y.value[1] === '1') ? r : undefined;
    }, 60_000);
    expect(counted.map((y) => y.metric.engine).sort()).toEqual(['0', '1', '2', '3']);
  }, 360_000);

  const activeAlerts = async (alertname: string) => ((await prom('/api/v1/alerts')).alerts as any[]).filter((a) => a.labels.alertname === alertname);

  test('a worker rank that stops answering while its pod stays Ready: only the group alerts see it (rank targets missing, group degraded: pending)', async () => {
    const x = MODELS[2];
    const planned = planOf(x.name).group!.targetsPerGroup;
    const rules = ((await prom('/api/v1/rules')).groups as any[]).flatMap((g) => g.rules).filter((r) => r.labels?.model === x.name);
    expect(rules.map((r) => [r.name, r.duration]).sort()).toEqual([
      ['InferenceModelGroupDegraded', 600], ['InferenceModelGroupRestartStorm', 60], ['InferenceModelGroupStalled', 300], ['InferenceModelRankTargetsMissing', 300],
    ]);
    // Healthy: neither alert is active for the model.
    await waitFor('the rules evaluated on every target up', async () => {
      const g = ((await prom('/api/v1/rules')).groups as any[]).find((y) => y.rules.some((r: any) => r.name === 'InferenceModelRankTargetsMissing'));
      return g && Date.parse(g.lastEvaluation) > Date.now() - 10_000;
    }, 60_000);
    for (const a of ['InferenceModelRankTargetsMissing', 'InferenceModelGroupDegraded']) expect((await activeAlerts(a)).filter((y) => y.labels.model === x.name)).toEqual([]);

    // The worker's second rank server (port 23334, dp rank 3) stops; the probes check the first port only.
    const worker = (await lwsPods(cp, NS_CONTROLLER, lwsName(x.name))).find((p) => p.metadata.labels[LWS_LABELS.workerIndex] === '1')!;
    const port = planOf(x.name).group!.worker.metricsEndpoints[1].port;
    const r = await fetch(`http://${worker.status.podIP}:${port}/standin/stop-rank?rank=1`, { method: 'POST' });
    expect(r.status).toBe(200);
    await waitFor('the stopped rank\'s target down', async () => (await query(`up{model="${x.name}", instance="${worker.status.podIP}:${port}"} == 0`)).length === 1, 60_000);
    const missing = await waitFor('InferenceModelRankTargetsMissing active', async () => (await activeAlerts('InferenceModelRankTargetsMissing')).find((y) => y.labels.model === x.name), 60_000);
    expect(missing.state).toMatch(/pending|firing/);
    expect(missing.labels).toMatchObject({ namespace: NS_CONTROLLER, model: x.name, group: '0', inference_engine: x.engine, severity: 'critical' });
    expect(Number(missing.value)).toBe(planned - 1);
    const degraded = await waitFor('InferenceModelGroupDegraded active', async () => (await activeAlerts('InferenceModelGroupDegraded')).find((y) => y.labels.model === x.name), 60_000);
    expect(degraded.state).toMatch(/pending|firing/);
    expect(Number(degraded.value)).toBe(planned - 1);
    // Rank 3 is gone from every dashboard: the running total lacks exactly its recorded value.
    const rank3 = recordedSamples(x).find((y) => y.name === 'lmdeploy:num_requests_running' && y.labels.engine === '3')!.value;
    const total = statsOf(x).ranks.reduce((n, y) => n + y.after.running, 0);
    const p = planOf(x.name);
    const expr = print(gaugeTotal(p.profile, signalAlternatives(p.profile, 'requestsRunning', [p.version]), { matchers: [matcher('model', '=', x.name)], window: '1m' }, []));
    await waitFor('the running total without rank 3', async () => (await value(expr))[0] === total - rank3, 30_000);
    // ...while the pod, the group and the resource's status all still say ready: the group alerts are what tells.
    expect(ready((await lwsPods(cp, NS_CONTROLLER, lwsName(x.name))).find((y) => y.metadata.name === worker.metadata.name))).toBe(true);
    expect(await modelStatus(x.name)).toEqual({ name: x.name, replicas: 1, readyReplicas: 1, podsPerReplica: 2, ready: true });
    // The other models are whole: no rank target missing for them.
    expect((await activeAlerts('InferenceModelRankTargetsMissing')).map((y) => y.labels.model)).toEqual([x.name]);
  }, 180_000);

  test('a group with requests running that generates no token is stalled (InferenceModelGroupStalled); tokens generated end it', async () => {
    const x = MODELS[1];
    const p = planOf(x.name);
    const tokens = signalAlternatives(p.profile, 'generationTokens', [p.version])[0].metric;
    // The recording is a frozen moment: the leader's scheduler has requests running and the counters never move,
    // which is what a group hung in a collective looks like. The alert is active from the start.
    const stalled = await waitFor('InferenceModelGroupStalled active for the SGLang group', async () => (await activeAlerts('InferenceModelGroupStalled')).find((y) => y.labels.model === x.name), 120_000);
    expect(stalled.state).toMatch(/pending|firing/);
    expect(stalled.labels).toMatchObject({ namespace: NS_CONTROLLER, model: x.name, group: '0', inference_engine: x.engine, severity: 'critical' });
    expect(Number(stalled.value)).toBe(0);
    const running = recordedSamples(x).filter((y) => y.name === 'sglang:num_running_reqs').reduce((n, y) => Math.max(n, y.value), 0);
    expect(running).toBeGreaterThan(0);
    // Tokens generated: every port of the group that serves the token counter moves it on (the stand-in refuses a
    // port without it, as the node-1 server has none).
    const pods = await lwsPods(cp, NS_CONTROLLER, lwsName(x.name));
    let moved = 0;
    for (const pod of pods) {
      const role = pod.metadata.labels[LWS_LABELS.workerIndex] === '0' ? p.group!.leader : p.group!.worker;
      for (const e of role.metricsEndpoints) {
        const r = await fetch(`http://${pod.status.podIP}:${e.port}/standin/add?metric=${encodeURIComponent(tokens)}&by=500`, { method: 'POST' });
        if (r.status === 200) moved += Number(await r.text());
      }
    }
    const recordedCounters = recordedSamples(x).filter((y) => y.name === tokens).length;
    expect(moved).toBe(recordedCounters);
    await waitFor('tokens generated by the SGLang group', async () => (await value(`sum(rate(${tokens}{model="${x.name}"}[5m]))`))[0] > 0, 60_000);
    await waitFor('InferenceModelGroupStalled gone for the SGLang group', async () => !(await activeAlerts('InferenceModelGroupStalled')).some((y) => y.labels.model === x.name), 60_000);
    // The frozen groups of the other models stay stalled: the alert is per group, not per stack.
    expect((await activeAlerts('InferenceModelGroupStalled')).map((y) => y.labels.model).sort()).toEqual(['dsl', 'dsv']);
    // eslint-disable-next-line no-console
    console.log(`SGLang group: stalled (${stalled.state}, tokens/s ${stalled.value}, ${running} running on the leader's scheduler); ${moved} token counter(s) moved by 500, then gone`);
  }, 240_000);

  test('a vLLM worker whose API server dies: its target goes down and the group alerts turn pending, the worker turns NotReady and the status says so, then its liveness probe restarts it and LeaderWorkerSet recreates the group', async () => {
    const x = MODELS[0];
    const name = lwsName(x.name);
    const before = Object.fromEntries((await lwsPods(cp, NS_CONTROLLER, name)).map((p) => [p.metadata.name, p.metadata.uid]));
    const worker = (await lwsPods(cp, NS_CONTROLLER, name)).find((p) => p.metadata.labels[LWS_LABELS.workerIndex] === '1')!;
    const port = planOf(x.name).group!.worker.metricsEndpoints[0].port;
    const stoppedAt = Date.now();
    expect((await fetch(`http://${worker.status.podIP}:${port}/standin/stop-rank?rank=0`, { method: 'POST' })).status).toBe(200);
    // The group has one target of two up: both group alerts fire (pending: their `for:` is minutes).
    const missing = await waitFor('InferenceModelRankTargetsMissing active for the vLLM group', async () => (await activeAlerts('InferenceModelRankTargetsMissing')).find((y) => y.labels.model === x.name), 60_000);
    expect(missing.labels).toMatchObject({ namespace: NS_CONTROLLER, model: x.name, group: '0', inference_engine: 'vllm' });
    expect(Number(missing.value)).toBe(1);
    const degraded = await waitFor('InferenceModelGroupDegraded active for the vLLM model', async () => (await activeAlerts('InferenceModelGroupDegraded')).find((y) => y.labels.model === x.name), 60_000);
    expect(degraded.state).toMatch(/pending|firing/);
    // Half the engines are gone from the dashboards' total.
    const p = planOf(x.name);
    const expr = print(gaugeTotal(p.profile, signalAlternatives(p.profile, 'requestsRunning', [p.version]), { matchers: [matcher('model', '=', x.name)], window: '1m' }, []));
    const leaderOnly = recordedSamples(x).filter((y) => y.name === 'vllm:num_requests_running' && Number(y.labels.engine) < p.group!.dataLocal).reduce((n, y) => n + y.value, 0);
    await waitFor('the running total of the leader\'s engines only', async () => (await value(expr))[0] === leaderOnly, 30_000);
    // The readiness probe (the engine's /health on this port) fails: the group is not ready, and the status says so.
    const down = await explained(waitFor('the status: no vLLM group ready', async () => {
      const entry = await modelStatus(x.name);
      return entry?.readyReplicas === 0 ? entry : undefined;
    }, 90_000));
    expect(down).toEqual({ name: x.name, replicas: 1, readyReplicas: 0, podsPerReplica: 2, ready: false });
    // The liveness probe restarts the container; a restarted pod makes LeaderWorkerSet recreate the whole group.
    await explained(waitForLws(cp, NS_CONTROLLER, name, 'the group recreated and ready', (l) => (l.status?.readyReplicas ?? 0) === 1, 240_000)
      .then(async () => waitFor('two new Ready pods', async () => {
        const ps = await lwsPods(cp, NS_CONTROLLER, name);
        return ps.length === 2 && ps.every((q) => ready(q) && !q.metadata.deletionTimestamp && q.metadata.uid !== before[q.metadata.name]) ? ps : undefined;
      }, 120_000)));
    const events = await getJson(['-n', NS_CONTROLLER, 'get', 'events', '--field-selector', `involvedObject.kind=LeaderWorkerSet,involvedObject.name=${name},reason=RecreateGroup`]);
    // The deletion above and this restart: two recreations (the recorder may fold the same message into one Event's count).
    expect(events.items.reduce((n: number, e: any) => n + (e.series?.count ?? e.count ?? 1), 0)).toBeGreaterThanOrEqual(2);
    await explained(waitFor('the status: the vLLM group ready again', async () => (await modelStatus(x.name))?.ready === true, 90_000));
    await targetsUp(x.name, p.group!.targetsPerGroup, 120_000);
    await waitFor('InferenceModelRankTargetsMissing resolved for the vLLM group', async () => !(await activeAlerts('InferenceModelRankTargetsMissing')).some((y) => y.labels.model === x.name), 60_000);
    // eslint-disable-next-line no-console
    console.log(`vLLM worker API server stopped: group recreated and all targets up after ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s`);
  }, 420_000);

  test('a group recreated more than 3 times within the hour: InferenceModelGroupRestartStorm, its value the leader addresses seen', async () => {
    const x = MODELS[0];
    const name = lwsName(x.name);
    const job = planOf(x.name).objectName;
    /** The leader's addresses in the last hour, from its raw `up` samples: one per group recreation (new pod IPs). */
    const leaderAddresses = async () => new Set((await query(`up{job="${job}", namespace="${NS_CONTROLLER}", worker="0"}[1h]`)).map((y) => y.metric.instance as string));
    const storm = async () => (await activeAlerts('InferenceModelGroupRestartStorm')).find((y) => y.labels.model === x.name);
    const seen = new Set<string>();
    // Created, then recreated by the two tests above: three addresses so far. Recreate until it is a storm.
    for (let round = 0; ; round++) {
      const addresses = await leaderAddresses();
      for (const a of seen) expect(addresses).toContain(a);
      if (addresses.size > GROUP_RESTARTS_PER_HOUR) break;
      expect({ addresses: addresses.size, storm: await storm() }).toEqual({ addresses: addresses.size, storm: undefined });
      expect(round).toBeLessThan(GROUP_RESTARTS_PER_HOUR);
      const before = (await lwsPods(cp, NS_CONTROLLER, name)).find((q) => q.metadata.labels[LWS_LABELS.workerIndex] === '0')!;
      await kubectl(['-n', NS_CONTROLLER, 'delete', 'pod', before.metadata.name, '--wait=false']);
      const leader = await explained(waitFor('the group recreated with a new leader Ready', async () => {
        const ps = await lwsPods(cp, NS_CONTROLLER, name);
        const l = ps.find((q) => q.metadata.labels[LWS_LABELS.workerIndex] === '0');
        return ps.length === 2 && ps.every((q) => ready(q) && !q.metadata.deletionTimestamp) && l && l.metadata.uid !== before.metadata.uid ? l : undefined;
      }, 240_000));
      const address = `${leader.status.podIP}:${planOf(x.name).group!.leader.metricsEndpoints[0].port}`;
      await waitFor(`the new leader ${address} scraped`, async () => (await value(`up{job="${job}", instance="${address}"}`))[0] === 1, 60_000);
      seen.add(address);
    }
    const addresses = await leaderAddresses();
    const alert = await waitFor('InferenceModelGroupRestartStorm active for the vLLM group', storm, 60_000);
    expect(alert.state).toMatch(/pending|firing/);
    expect(alert.labels).toMatchObject({ namespace: NS_CONTROLLER, model: x.name, group: '0', inference_engine: 'vllm', severity: 'warning' });
    expect(Number(alert.value)).toBe(addresses.size);
    // Only this model's group: the others were never recreated.
    expect((await activeAlerts('InferenceModelGroupRestartStorm')).map((y) => y.labels.model)).toEqual([x.name]);
    // eslint-disable-next-line no-console
    console.log(`vLLM group: ${addresses.size} leader addresses within the hour after ${seen.size} recreation(s) here: InferenceModelGroupRestartStorm ${alert.state} with value ${alert.value}`);
  }, 600_000);
});
