/**
 * Operator mode and NetworkPolicies where they run: a real node that enforces NetworkPolicies
 * (kube-router's firewall; test/harness/policy-engine.ts), the real prometheus-operator
 * (test/harness/operator.ts) running the Prometheus of `createPrometheus` as a pod with its
 * config-reloader.
 *
 * 1. Operator mode: the stack as rendered, LMDeploy and vLLM stand-ins, an existing LMDeploy workload
 *    in another namespace that declares no ports (`targets[]`), and a stand-in for a GPU exporter
 *    that is down. The operator's Prometheus scrapes every rank with the managed mode's target
 *    labels, through the stack's own policies, and InferenceTargetDown / GpuExporterDown become
 *    active for exactly the targets that are down.
 * 2. The policy matrix: for managed mode, operator mode with its own and with a shared Prometheus,
 *    and managed mode with defaultDeny, each rendered workload gets a double: a pod with the
 *    workload's pod-template labels listening on its container ports (Grafana, Tempo and the engines
 *    cannot run here: what a policy sees is labels and ports). From every double and from outsiders
 *    (another pod of the namespace, a pod of another namespace, KEDA, a shared Prometheus) TCP
 *    connections are tried against an expected-reachability table written from the README's
 *    Security claims, not from the policy code.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { parseAllDocuments, stringify } from 'yaml';
import { Manifest, renderManifests } from '../../src/render';
import { ControlPlane, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { haveOperator, installOperatorCrds, RunningOperator, startOperator } from '../harness/operator';
import { canRunPolicyEngine } from '../harness/policy-engine';
import { waitFor as poll } from '../harness/wait';
import { clusterClient, prometheusApi } from '../harness/cluster-client';
import { REPO } from '../harness/binaries';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const can = [canRunNode(), canRunPolicyEngine(), { ok: haveOperator(), why: 'prometheus-operator not built (tools/build-operator.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the operator/NetworkPolicy node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 1000);

const small = { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } };
const engineResources = { requests: { cpu: '20m', memory: '48Mi' }, limits: { memory: '256Mi' }, sharedMemory: '64Mi' };

/** Serves every port given (a JSON list) with 200; the double of a workload. */
const LISTEN = `
const http = require('http');
for (const p of JSON.parse(process.argv[1])) http.createServer((q, s) => s.end('ok')).listen(p);
setInterval(() => {}, 1 << 30);
`;
/** Tries one TCP connection to each `[host, port]` (JSON) at once; prints `ok` or the error per target. REJECT answers at once, DROP times out. */
const PROBE = `
const net = require('net');
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map(([host, port]) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 1500 });
  s.on('connect', () => { s.destroy(); resolve('ok'); });
  s.on('timeout', () => { s.destroy(); resolve('TIMEOUT'); });
  s.on('error', (e) => resolve(e.code || e.message));
}))).then((r) => console.log(JSON.stringify(r)));
`;

runIf('operator mode and NetworkPolicies on a node that enforces them', () => {
  let cp: ControlPlane;
  let node: TestNode;
  let operator: RunningOperator;
  const { kubectl, getJson, podsOf, explain } = clusterClient(() => cp, () => `--- operator\n${operator?.logTail(15)}`);

  const apply = (objs: unknown[]) => kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], objs.map((o) => stringify(o)).join('---\n'));

  beforeAll(async () => {
    const images = buildNodeImages();
    cp = await startControlPlane({ forPods: true });
    // All of the operator's CRDs (the stack's PodMonitors, PrometheusRules, Prometheus and the rest).
    await installOperatorCrds(cp);
    node = await startNode(cp, { images, gpus: 8, networkPolicy: true });
    operator = await startOperator({ kubeconfig: cp.kubeconfig });
  }, 600_000);
  afterAll(async () => {
    await operator?.stop();
    await node?.stop();
    await cp?.stop();
  }, 120_000);

  // ---------------------------------------------------------------------------------------------
  // 1. Operator mode
  const OPS = 'ops';
  const SERVING = 'serving';
  let promUrl = '';
  const { api: prom, query, modelsWithSeries } = prometheusApi(() => promUrl);
  let operatorPromLabels: Record<string, string> = {};

  const operatorSpec: InferenceMonitoringSpecInput = {
    models: [
      { name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 }, image: ENGINE_STANDIN_IMAGE, resources: engineResources },
      { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', image: ENGINE_STANDIN_IMAGE, resources: engineResources },
    ],
    targets: [{ name: 'legacy', engine: 'lmdeploy', selector: { app: 'legacy' }, namespace: SERVING, port: 23333, ranks: 2 }],
    monitoring: { mode: 'operator', createPrometheus: true, interval: '5s', evaluationInterval: '5s' },
    // No Grafana, Tempo or DCGM image exists here; the exporter is a stand-in that is down.
    grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false },
    gpuMetrics: { enabled: true, deployExporter: false, exporterNamespace: SERVING, exporterSelector: { app: 'dcgm-standin' } },
  };

  test('operator mode: the operator runs the stack\'s Prometheus in a pod; every rank is up with the managed mode\'s target labels, through the stack\'s policies', async () => {
    for (const ns of [OPS, SERVING]) await kubectl(['create', 'namespace', ns]);
    const objs = renderManifests({ name: 'demo', namespace: OPS, spec: operatorSpec });
    // An existing LMDeploy deployment with two data-parallel ranks that declares no ports (scraped on 23333 and 23334 all the same),
    // run with the arguments we would generate; and a GPU exporter stand-in that declares 9400 and serves nothing there.
    const qwen = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-qwen')!;
    const engine = qwen.spec.template.spec.containers[0];
    const plainPod = (name: string, labels: Record<string, string>, container: any) => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: SERVING },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 0, containers: [{ imagePullPolicy: 'Never', resources: small, ...container }] } } },
    });
    await apply([
      plainPod('legacy', { app: 'legacy' }, { name: 'lmdeploy', image: ENGINE_STANDIN_IMAGE, command: engine.command, args: engine.args }),
      plainPod('dcgm-standin', { app: 'dcgm-standin' }, { name: 'exporter', image: ENGINE_STANDIN_IMAGE, command: ['vllm', 'serve', 'none', '--port', '8000'], ports: [{ name: 'metrics', containerPort: 9400 }] }),
    ]);
    await kubectl(['-n', OPS, 'create', 'secret', 'generic', 'hf-token', '--from-literal=token=test-only']);
    await apply(objs);

    const [promPod] = await waitFor('the operator\'s Prometheus pod Ready', async () => {
      const ps = await podsOf(OPS, 'app.kubernetes.io/name=prometheus');
      return ps.length === 1 && ps[0].status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? ps : undefined;
    }, 240_000).catch(async (e) => { throw await explain(e); });
    // The operator ran it with its config-reloader, under the name the Prometheus resource gives.
    expect(promPod.metadata.name).toBe('prometheus-demo-prometheus-0');
    expect(promPod.spec.containers.map((c: any) => c.name).sort()).toEqual(['config-reloader', 'prometheus']);
    operatorPromLabels = promPod.metadata.labels;
    // The stack's policy for its Prometheus selects the pod the operator made.
    const policy = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'demo-prometheus')!;
    expect(operatorPromLabels).toMatchObject(policy.spec.podSelector.matchLabels);
    promUrl = `http://${promPod.status.podIP}:9090`;

    const pods = [...await podsOf(OPS, 'app.kubernetes.io/component=inference'), ...await podsOf(SERVING, 'app=legacy')];
    const byModel = (m: string) => pods.find((p) => (p.metadata.labels['monitoring.inference.dev/model'] ?? p.metadata.labels.app) === m)!;
    const target = (model: string, engineName: string, port: number, job: string, container?: string) => {
      const p = byModel(model);
      return {
        instance: `${p.status.podIP}:${port}`, job, namespace: p.metadata.namespace, pod: p.metadata.name, node: p.spec.nodeName,
        model, inference_engine: engineName, ...(container ? { container } : {}),
      };
    };
    // Exactly the labels managed mode gives (test/unit/model-pod-monitor.test.ts compares the two configurations):
    // no `endpoint`, the job our rules select, `container` only for pods of ours.
    const expected = [
      target('qwen', 'lmdeploy', 23333, 'demo-qwen', 'engine'),
      target('qwen', 'lmdeploy', 23334, 'demo-qwen', 'engine'),
      target('llama', 'vllm', 8000, 'demo-llama', 'engine'),
      target('legacy', 'lmdeploy', 23333, 'demo-legacy'),
      target('legacy', 'lmdeploy', 23334, 'demo-legacy'),
    ].sort((a, b) => a.instance.localeCompare(b.instance));
    const up = await waitFor('up == 1 for every rank', async () => {
      const r = await query('up{model!=""}');
      return r.length >= expected.length && r.every((s) => s.value[1] === '1') ? r : undefined;
    }, 120_000).catch(async (e) => { throw new Error(`${e.message}\ntargets: ${JSON.stringify((await prom('/api/v1/targets')).activeTargets.map((t: any) => [t.scrapeUrl, t.health, t.lastError, t.labels]))}`); });
    const got = up.map((s) => { const { __name__, ...labels } = s.metric; return labels; }).sort((a, b) => a.instance.localeCompare(b.instance));
    expect(got).toEqual(expected);
    // Each scraped once: no duplicate target per rank (the legacy pod's declared-port-less container yields one).
    const active = (await prom('/api/v1/targets?state=active')).activeTargets as any[];
    const urls = active.filter((t) => t.labels.model).map((t) => t.scrapeUrl);
    expect(urls.length).toBe(new Set(urls).size);
    expect(urls.length).toBe(expected.length);
  }, 420_000);

  test('operator mode: InferenceTargetDown and GpuExporterDown become active for exactly the targets that are down', async () => {
    const legacy = byName(await podsOf(SERVING, 'app=legacy'));
    const r = await fetch(`http://${legacy.status.podIP}:23333/standin/stop-rank?rank=1`, { method: 'POST' });
    expect(r.status).toBe(200);
    const instance = `${legacy.status.podIP}:23334`;
    const alerts = await waitFor('both alerts active', async () => {
      const a = ((await prom('/api/v1/alerts')).alerts as any[]);
      const down = a.filter((x) => x.labels.alertname === 'InferenceTargetDown');
      const gpu = a.filter((x) => x.labels.alertname === 'GpuExporterDown');
      return down.length && gpu.length ? { down, gpu } : undefined;
    }, 120_000);
    // `for: 5m`/`10m` keep them pending here; promtool's rule tests prove they fire after that.
    expect(alerts.down.map((x: any) => [x.state, x.labels.instance, x.labels.model, x.labels.namespace, x.labels.pod]))
      .toEqual([[expect.stringMatching(/pending|firing/), instance, 'legacy', SERVING, legacy.metadata.name]]);
    const exporter = byName(await podsOf(SERVING, 'app=dcgm-standin'));
    expect(alerts.gpu.map((x: any) => [x.state, x.labels.instance, x.labels.job])).toEqual([[expect.stringMatching(/pending|firing/), `${exporter.status.podIP}:9400`, 'dcgm-exporter']]);
    // Every rule of the operator-loaded PrometheusRule is healthy, and the engine recording rules have series for the models and the target.
    const groups = (await prom('/api/v1/rules')).groups as any[];
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.filter((x) => x.health !== 'ok').map((x) => [x.name, x.lastError])).toEqual([]);
    const recorded = rules.filter((x) => x.type === 'recording').map((x) => x.name as string);
    const models = await waitFor('recorded series for every model and target', async () => {
      const m = await modelsWithSeries(recorded);
      return ['legacy', 'llama', 'qwen'].every((x) => m.includes(x)) ? m : undefined;
    }, 90_000);
    expect(models).toEqual(expect.arrayContaining(['legacy', 'llama', 'qwen']));
  }, 240_000);

  // ---------------------------------------------------------------------------------------------
  // 2. The NetworkPolicy matrix
  const ELSEWHERE = 'np-elsewhere';
  interface Double { name: string; namespace: string; labels: Record<string, string>; ports: number[] }
  const doubles: Double[] = [];
  const ipOf = new Map<string, string>();
  const key = (d: { name: string; namespace: string }) => `${d.namespace}/${d.name}`;

  /** A pod of every rendered workload, with its template's labels and container ports. */
  const doublesOf = (objs: Manifest[], namespace: string): Double[] => objs
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind) && o.metadata.namespace === namespace)
    .map((o) => ({
      name: o.metadata.name,
      namespace,
      labels: o.spec.template.metadata.labels,
      ports: [...new Set<number>(o.spec.template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort)))].sort((a, b) => a - b),
    }));

  interface Scenario { ns: string; spec: Record<string, unknown> }
  const base = {
    models: [
      { name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } },
      { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', autoscaling: { minReplicas: 1, maxReplicas: 2, metric: 'queueLength', target: 5 } },
      { name: 'tf', model: 'Qwen/Qwen2.5-0.5B-Instruct', engine: 'transformers' },
    ],
  };
  const scenarios: Record<string, Scenario> = {
    managed: { ns: 'np-managed', spec: base },
    operator: { ns: 'np-operator', spec: { ...base, monitoring: { mode: 'operator', createPrometheus: true } } },
    shared: { ns: 'np-shared', spec: { ...base, monitoring: { mode: 'operator', prometheusUrl: 'http://kps-prometheus.monitoring.svc:9090' } } },
    deny: { ns: 'np-deny', spec: { ...base, networkPolicy: { defaultDeny: true } } },
  };
  const rendered: Record<string, Manifest[]> = {};

  interface Pair { from: string; to: string; port: number; allowed: boolean; why: string }
  const pairs: Pair[] = [];

  test('the policy matrix: every claim of README\'s Security table, from pods, in managed and operator mode and with defaultDeny', async () => {
    for (const ns of [ELSEWHERE, 'keda', 'monitoring', ...Object.values(scenarios).map((s) => s.ns)]) await kubectl(['create', 'namespace', ns]);
    // The test's apiserver listens on a free port, not 6443: pods reach it at the node's address on that port after the
    // kubernetes Service (443) is translated, so it is what networkPolicy.apiServerPorts names, as a user would.
    const apiserver = new URL(cp.server);
    scenarios.deny.spec = { ...scenarios.deny.spec, networkPolicy: { defaultDeny: true, apiServerPorts: [443, Number(apiserver.port)] } };
    for (const [name, s] of Object.entries(scenarios)) {
      rendered[name] = renderManifests({ name: 'demo', namespace: s.ns, spec: s.spec });
      doubles.push(...doublesOf(rendered[name], s.ns));
      // The operator's Prometheus pod of `createPrometheus`: the labels the operator gave the real one above.
      if (name === 'operator') doubles.push({ name: 'demo-prometheus', namespace: s.ns, labels: { ...operatorPromLabels, 'operator.prometheus.io/name': 'demo-prometheus' }, ports: [9090] });
      doubles.push({ name: 'outsider', namespace: s.ns, labels: { role: 'outsider' }, ports: [8080] });
    }
    expect(Object.keys(operatorPromLabels)).toContain('operator.prometheus.io/name');
    doubles.push(
      { name: 'outsider', namespace: ELSEWHERE, labels: { role: 'outsider' }, ports: [8080] },
      // A pod with Prometheus' labels in a namespace that is not the shared Prometheus': the namespace matters.
      { name: 'prometheus-impostor', namespace: ELSEWHERE, labels: { 'app.kubernetes.io/name': 'prometheus' }, ports: [9090] },
      { name: 'keda-operator', namespace: 'keda', labels: { 'app.kubernetes.io/name': 'keda-operator' }, ports: [8080] },
      { name: 'shared-prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' }, ports: [9090] },
    );
    // The controller's install (dist/1, as committed): its NetworkPolicy and a double of its pod, also listening on a port it does not expose.
    const install = parseAllDocuments(fs.readFileSync(path.join(REPO, 'dist', '1-controller.k8s.yaml'), 'utf8')).map((x) => x.toJSON()) as Manifest[];
    const controllerNs = install.find((o) => o.kind === 'NetworkPolicy')!.metadata.namespace!;
    await kubectl(['create', 'namespace', controllerNs]);
    const controller = doublesOf(install, controllerNs)[0];
    doubles.push({ ...controller, ports: [...controller.ports, 9999] });
    rendered.install = install.filter((o) => o.kind === 'NetworkPolicy');
    const policies = Object.values(rendered).flatMap((objs) => objs.filter((o) => o.kind === 'NetworkPolicy'));
    expect(policies.length).toBeGreaterThan(20);
    await apply(policies);
    await apply(doubles.map((d) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: d.name, namespace: d.namespace, labels: d.labels },
      spec: {
        terminationGracePeriodSeconds: 0, automountServiceAccountToken: false,
        containers: [{ name: 'double', image: CONTROLLER_IMAGE, imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', LISTEN, JSON.stringify(d.ports)], resources: small }],
      },
    })));
    await waitFor('every double Running', async () => {
      const all = (await getJson(['get', 'pods', '-A'])).items as any[];
      for (const p of all) if (p.status.podIP && p.status.phase === 'Running') ipOf.set(`${p.metadata.namespace}/${p.metadata.name}`, p.status.podIP);
      return doubles.every((d) => ipOf.has(key(d)));
    }, 180_000).catch(async (e) => { throw await explain(e); });

    // The table. `d(scenario, workload)` names a double; the reasons are README's claims.
    const d = (scenario: string, name: string) => `${scenarios[scenario]?.ns ?? scenario}/${name}`;
    const allow = (from: string, to: string, ports: number[], why: string) => ports.forEach((port) => pairs.push({ from, to, port, allowed: true, why }));
    const deny = (from: string, to: string, ports: number[], why: string) => ports.forEach((port) => pairs.push({ from, to, port, allowed: false, why }));
    const other = `${ELSEWHERE}/outsider`;
    for (const s of ['managed', 'operator', 'deny']) {
      const prometheus = d(s, 'demo-prometheus');
      const outsider = d(s, 'outsider');
      allow(d(s, 'demo-grafana'), prometheus, [9090], 'Grafana queries Prometheus');
      allow(d(s, 'demo-tempo'), prometheus, [9090], 'Tempo\'s metrics generator remote-writes');
      allow(d(s, 'demo-tf'), prometheus, [9090], 'transformers pushes OTLP metrics');
      allow('keda/keda-operator', prometheus, [9090], 'KEDA queries Prometheus for the autoscaled model');
      deny(outsider, prometheus, [9090], 'Prometheus\' unauthenticated receivers are fenced');
      deny(other, prometheus, [9090], 'nor from another namespace');
      deny(d(s, 'demo-qwen'), prometheus, [9090], 'an engine that pushes nothing');
      allow(d(s, 'demo-grafana'), d(s, 'demo-tempo'), [3200], 'Grafana queries Tempo');
      deny(outsider, d(s, 'demo-tempo'), [3200, 4317, 4318], 'Tempo is fenced');
      allow(d(s, 'demo-llama'), d(s, 'demo-tempo'), [4317, 4318], 'vLLM exports traces');
      allow(outsider, d(s, 'demo-grafana'), [3000], 'users reach Grafana');
      allow(other, d(s, 'demo-grafana'), [3000], 'from anywhere');
      allow(prometheus, d(s, 'demo-qwen'), [23333, 23334], 'Prometheus scrapes every LMDeploy rank');
      deny(outsider, d(s, 'demo-qwen'), [23333, 23334], 'rank ports serve only /metrics');
      deny(d(s, 'demo-grafana'), d(s, 'demo-qwen'), [23333], 'not even from the stack');
      allow(outsider, d(s, 'demo-qwen'), [8000], 'LMDeploy\'s proxy serves clients');
      allow(other, d(s, 'demo-llama'), [8000], 'vLLM\'s port serves clients and /metrics');
      allow(prometheus, d(s, 'demo-dcgm-exporter'), [9400], 'Prometheus scrapes DCGM');
      allow(prometheus, d(s, 'demo-alertmanager'), [9093], 'Prometheus sends alerts to the stack\'s Alertmanager');
      deny(outsider, d(s, 'demo-alertmanager'), [9093], 'nobody else reaches its unauthenticated API (silences)');
      deny(outsider, d(s, 'demo-dcgm-exporter'), [9400], 'GPU metrics only to Prometheus');
    }
    // A shared Prometheus: only its pods, in its namespace, reach the metrics-only ports.
    allow('monitoring/shared-prometheus', d('shared', 'demo-qwen'), [23333, 23334], 'the shared Prometheus scrapes every rank');
    allow('monitoring/shared-prometheus', d('shared', 'demo-dcgm-exporter'), [9400], 'and DCGM');
    deny(`${ELSEWHERE}/prometheus-impostor`, d('shared', 'demo-qwen'), [23333], 'Prometheus\' labels in another namespace are not enough');
    deny(d('shared', 'outsider'), d('shared', 'demo-qwen'), [23334], 'rank ports serve only /metrics');
    allow(d('shared', 'outsider'), d('shared', 'demo-qwen'), [8000], 'the proxy serves clients');
    // defaultDeny: egress too. The pod's own policy admits what it needs; everything else leaving it is refused.
    deny(d('deny', 'demo-prometheus'), d('deny', 'demo-grafana'), [3000], 'egress: Prometheus reaches only its targets (Grafana itself admits everyone)');
    deny(d('deny', 'demo-grafana'), other, [8080], 'egress: Grafana reaches only Prometheus, Tempo and the database');
    deny(d('deny', 'demo-tf'), other, [8080], 'egress: an engine reaches its receivers and modelEgressPorts only');
    deny(d('deny', 'outsider'), d('deny', 'demo-qwen'), [23333], 'ingress stays fenced');
    deny(d('deny', 'demo-alertmanager'), other, [8080], 'egress: Alertmanager reaches its receivers\' ports (alertmanagerEgressPorts) only');
    allow(d('deny', 'outsider'), d('deny', 'demo-grafana'), [3000], 'pods outside the stack are not restricted by it');
    allow(d('managed', 'demo-prometheus'), d('managed', 'demo-grafana'), [3000], 'without defaultDeny egress is not restricted');
    allow(d('managed', 'demo-grafana'), other, [8080], 'without defaultDeny egress is not restricted');

    // defaultDeny and the API server (the node's address, after the kubernetes Service is translated): Prometheus' discovery
    // reaches it (apiServerPorts), Grafana does not.
    ipOf.set('node/apiserver', cp.hostIp!);
    allow(d('deny', 'demo-prometheus'), 'node/apiserver', [Number(apiserver.port)], 'egress: Prometheus reaches the API server for discovery');
    deny(d('deny', 'demo-grafana'), 'node/apiserver', [Number(apiserver.port)], 'egress: Grafana does not');
    allow(d('managed', 'demo-grafana'), 'node/apiserver', [Number(apiserver.port)], 'without defaultDeny egress is not restricted');

    // The controller: its metrics port from anywhere (Prometheus scrapes it), nothing else.
    allow(other, `${controllerNs}/${controller.name}`, controller.ports, 'the controller admits its metrics port');
    deny(other, `${controllerNs}/${controller.name}`, [9999], 'and no other port');

    // Every double named in the table exists (a typo would test nothing).
    for (const p of pairs) for (const k of [p.from, p.to]) expect({ k, exists: ipOf.has(k) }).toEqual({ k, exists: true });
    // Every refused destination port is one the double listens on, and is reached by another pair or from the node (whose own
    // traffic kube-router always admits): a refusal is the policy's, not a missing listener.
    const reachable = new Set(pairs.filter((p) => p.allowed).map((p) => `${p.to}:${p.port}`));
    const fromNode = (host: string, port: number) => new Promise<string>((resolve) => {
      const c = net.connect({ host, port, timeout: 1500 });
      c.on('connect', () => { c.destroy(); resolve('ok'); });
      c.on('timeout', () => { c.destroy(); resolve('TIMEOUT'); });
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    for (const p of pairs.filter((x) => !x.allowed)) {
      const to = doubles.find((x) => key(x) === p.to);
      const reached = reachable.has(`${p.to}:${p.port}`) || (await fromNode(ipOf.get(p.to)!, p.port)) === 'ok';
      expect({ pair: `${p.to}:${p.port}`, listens: to ? to.ports.includes(p.port) : reached, reached }).toEqual({ pair: `${p.to}:${p.port}`, listens: true, reached: true });
    }

    // Probe, one exec per source (all its targets at once); kube-router programs policies within a few seconds of a pod starting.
    const bySource = new Map<string, Pair[]>();
    for (const p of pairs) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
    const run = async () => {
      const wrong: string[] = [];
      await Promise.all([...bySource].map(async ([from, ps]) => {
        const [ns, name] = from.split('/');
        const out = await kubectl(['-n', ns, 'exec', name, '--', '/nodejs/bin/node', '-e', PROBE, JSON.stringify(ps.map((p) => [ipOf.get(p.to), p.port]))]);
        JSON.parse(out).forEach((r: string, i: number) => {
          const p = ps[i];
          if ((r === 'ok') !== p.allowed) wrong.push(`${p.from} -> ${p.to}:${p.port} expected ${p.allowed ? 'reached' : 'refused'}, got ${r} (${p.why})`);
        });
      }));
      return wrong;
    };
    let wrong: string[] = [];
    await waitFor('the matrix as expected', async () => (wrong = await run()).length === 0, 60_000).catch(() => undefined);
    expect(wrong).toEqual([]);
    const sources = new Set(pairs.map((p) => p.from)).size;
    const destinations = new Set(pairs.map((p) => `${p.to}:${p.port}`)).size;
    console.log(`NetworkPolicy matrix: ${pairs.length} pairs (${pairs.filter((p) => p.allowed).length} reached, ${pairs.filter((p) => !p.allowed).length} refused), ${sources} sources x ${destinations} destination ports, ${policies.length} policies, ${doubles.length} pods`);
  }, 420_000);

  const byName = (ps: any[]) => { expect(ps).toHaveLength(1); return ps[0]; };
});
