/**
 * NetworkPolicies enforced on the real test node: kube-router's firewall (test/harness/policy-engine.ts)
 * started by `startNode(cp, { networkPolicy: true })`. Without an engine the apiserver stores
 * policies and nothing drops a packet; this proves the node's engine does, from pods (the node's own
 * traffic passes every policy in kube-router, so probing from the host would prove nothing).
 *
 * One namespace: a server (the engine stand-in serving HTTP on 8080) and two clients (the controller
 * image, whose Node runs a one-connection-per-probe HTTP client through `kubectl exec`).
 * No policy: both reach it. An ingress policy admitting role=allowed on 8080: the allowed client
 * still does, the other is refused. An egress policy denying everything for the allowed client: it
 * is refused too. Deleting the policies restores both. How long each change takes to act is
 * measured by a probe loop (every 25 ms) already running in the client when the policy is written.
 */
import { execFileSync, spawn } from 'child_process';
import * as path from 'path';
import { ControlPlane, k8sBinDir, SERVICE_CIDR, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE, PAUSE_IMAGE } from '../harness/images';
import { canRunNode, POD_CIDR, startNode, TestNode } from '../harness/node';
import { canRunPolicyEngine } from '../harness/policy-engine';
import { waitFor } from '../harness/wait';

const can = [canRunNode(), canRunPolicyEngine()].find((c) => !c.ok) ?? { ok: true };
if (!can.ok && process.env.CI) throw new Error(`the NetworkPolicy test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;

const NS = 'netpol';
const PORT = 8080;
/**
 * A probe gives up after this. kube-router REJECTs (the client sees ECONNREFUSED at once), but the kernel
 * rate-limits the ICMP unreachables that carry it (icmp_ratelimit 1000 ms after a burst of 6 per peer),
 * so a refused client probing fast mostly sees its SYN go unanswered: TIMEOUT.
 */
const PROBE_TIMEOUT_MS = 1000;
/** While waiting for access to come back, a shorter timeout, so that a probe stuck in a dropped SYN does not hide the moment. */
const UNTIL_OK_TIMEOUT_MS = 150;
/** The probe loop's pause between probes. */
const PROBE_INTERVAL_MS = 25;

/**
 * Runs in the client pods under `node -e`: `host port once` prints one probe's result;
 * `host port until-ok|until-blocked deadlineMs` probes every PROBE_INTERVAL_MS until the result is (or is no
 * longer) `ok`, printing `probing` first and then the flipped probe's start time and how many probes
 * it took. A new connection per probe (no keep-alive): an established connection would outlive a new
 * policy (kube-router admits established traffic).
 */
const PROBE = `
const http = require('http');
const [host, port, mode, deadlineMs] = process.argv.slice(1);
const timeout = mode === 'until-ok' ? ${UNTIL_OK_TIMEOUT_MS} : ${PROBE_TIMEOUT_MS};
const probe = () => new Promise((resolve) => {
  const req = http.get({ host, port: Number(port), path: '/health', agent: false, timeout }, (res) => {
    res.resume(); res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : 'http ' + res.statusCode));
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => resolve(e.code || e.message));
});
(async () => {
  if (mode === 'once') { const at = Date.now(); console.log(JSON.stringify({ result: await probe(), at })); return; }
  const wantOk = mode === 'until-ok';
  const deadline = Date.now() + Number(deadlineMs);
  console.log('probing');
  for (let n = 1; ; n++) {
    const at = Date.now();
    const result = await probe();
    if ((result === 'ok') === wantOk || Date.now() > deadline) { console.log(JSON.stringify({ result, at, probes: n })); return; }
    await new Promise((r) => setTimeout(r, ${PROBE_INTERVAL_MS}));
  }
})();
`;

interface Probe { result: string; at: number; probes?: number }

runIf('NetworkPolicies on the real node, enforced by kube-router', () => {
  let cp: ControlPlane;
  let node: TestNode;
  let serverIp = '';
  const started = Date.now();
  const timings: Record<string, number> = {};
  const blockedAs: Record<string, string> = {};
  const kubectl = async (args: string[], input?: string) => {
    const r = await cp.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const once = async (client: string): Promise<Probe> =>
    JSON.parse(await kubectl(['-n', NS, 'exec', client, '--', '/nodejs/bin/node', '-e', PROBE, serverIp, String(PORT), 'once']));
  /** Starts a probe loop in the client; resolves `running` once it probes, `done` with the flipped probe. */
  const watch = (client: string, mode: 'until-ok' | 'until-blocked', deadlineMs = 30_000) => {
    const child = spawn(path.join(k8sBinDir(), 'kubectl'), [`--kubeconfig=${cp.kubeconfig}`, '-n', NS, 'exec', client, '--',
      '/nodejs/bin/node', '-e', PROBE, serverIp, String(PORT), mode, String(deadlineMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let onLine: () => void = () => {};
    const running = new Promise<void>((resolve) => { onLine = resolve; });
    child.stdout.on('data', (d) => { out += d; if (out.includes('probing')) onLine(); });
    child.stderr.on('data', (d) => { err += d; });
    const done = new Promise<Probe>((resolve, reject) => child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last)); else reject(new Error(`probe loop in ${client} exited ${code}: ${out}${err}`));
    }));
    done.catch(() => { /* reported by whoever awaits it */ });
    return { running: Promise.race([running, done.then(() => undefined)]), done };
  };
  /** Applies (or deletes) through the API and times the change: from the request's start to the first probe that saw it. */
  const measure = async (what: string, client: string, mode: 'until-ok' | 'until-blocked', change: () => Promise<void>) => {
    const w = watch(client, mode);
    await w.running;
    const t0 = Date.now();
    await change();
    const flipped = await w.done;
    if (mode === 'until-ok') expect(flipped.result).toBe('ok'); else expect(flipped.result).toMatch(/^(ECONNREFUSED|TIMEOUT)$/);
    // The loop saw the state before the change: its first probe was not already the changed one.
    expect(flipped.probes).toBeGreaterThan(1);
    timings[what] = flipped.at - t0;
    if (mode === 'until-blocked') blockedAs[what] = flipped.result;
    return flipped;
  };
  const policy = async (body: any) => {
    const r = await cp.request('POST', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, body);
    if (r.status >= 300) throw new Error(`NetworkPolicy ${body.metadata.name}: ${r.text}`);
  };
  const deletePolicy = async (name: string) => {
    const r = await cp.request('DELETE', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/${name}`);
    if (r.status >= 300) throw new Error(`deleting NetworkPolicy ${name}: ${r.text}`);
  };
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
  const pgrep = (pattern: string) => { try { return sh('pgrep', ['-f', pattern]).trim().split('\n'); } catch { return []; } };

  beforeAll(async () => {
    const images = buildNodeImages().filter((i) => [PAUSE_IMAGE, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE].includes(i.name));
    cp = await startControlPlane({ forPods: true });
    const t = Date.now();
    node = await startNode(cp, { images, networkPolicy: true });
    timings['node start with kube-router'] = Date.now() - t;
    await kubectl(['create', 'namespace', NS]);
    const small = { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } };
    const client = (name: string, role: string) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { role } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'client', image: CONTROLLER_IMAGE, imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', 'setInterval(() => {}, 1 << 30)'], resources: small }],
      },
    });
    const server = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'server', namespace: NS, labels: { app: 'server' } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [{
          name: 'server', image: ENGINE_STANDIN_IMAGE, imagePullPolicy: 'Never', args: ['vllm', 'serve', 'org/model', '--port', String(PORT)],
          ports: [{ name: 'http', containerPort: PORT }], resources: small,
          readinessProbe: { httpGet: { path: '/health', port: PORT }, periodSeconds: 1 },
        }],
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [server, client('client-allowed', 'allowed'), client('client-other', 'other')] }));
    const r = await cp.kubectl(['-n', NS, 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=120s']);
    if (r.code !== 0) throw new Error(`pods not Ready: ${r.stderr}\n${(await cp.kubectl(['-n', NS, 'get', 'pods', '-o', 'wide'])).stdout}\n${node.logTail('kubelet', 20)}`);
    serverIp = JSON.parse(await kubectl(['-n', NS, 'get', 'pod', 'server', '-o', 'json'])).status.podIP;
  }, 900_000);
  afterAll(async () => {
    await node?.stop();
    await cp?.stop();
    timings['whole file'] = Date.now() - started;
    console.log(`network-policy-engine timings (ms): ${JSON.stringify(timings)}; blocked probes ended as ${JSON.stringify(blockedAs)}`);
  }, 120_000);

  test('kube-router runs only its firewall: no listener, the node\'s packet guards stay in place', () => {
    const pids = pgrep('kube-router --run-firewall=true');
    expect(pids).toHaveLength(1);
    // No TCP/UDP listener (health, metrics, pprof, GoBGP all off).
    expect(sh('ss', ['-lntupH']).split('\n').filter((l) => l.includes(`pid=${pids[0]},`))).toEqual([]);
    // Forwarded traffic from the pod bridge to another interface is still dropped first (mangle, before any filter rule).
    expect(sh('iptables', ['-t', 'mangle', '-S', 'FORWARD']).split('\n')[1]).toMatch(/^-A FORWARD -i cim0 ! -o cim0 .*cim-node.* -j DROP$/);
    // Untranslated Service IPs from the host are still dropped. Before that rule come only jumps into kube-proxy's
    // and kube-router's chains; kube-router's accepts nothing but traffic to or from a local pod's address.
    const output = sh('iptables', ['-t', 'filter', '-S', 'OUTPUT']).split('\n').slice(1).filter(Boolean);
    const guard = output.findIndex((l) => l.includes(`-d ${SERVICE_CIDR}`) && l.includes('cim-node') && l.endsWith('-j DROP'));
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(output.slice(0, guard).filter((l) => !/ -j KUBE-(ROUTER-OUTPUT|SERVICES|FIREWALL|PROXY-FIREWALL)$/.test(l))).toEqual([]);
    const podIp = POD_CIDR.split('.').slice(0, 3).join('\\.') + '\\.\\d+\\/32';
    const routerOutput = sh('iptables', ['-t', 'filter', '-S', 'KUBE-ROUTER-OUTPUT']).split('\n').slice(1).filter(Boolean);
    expect(routerOutput.filter((l) => !new RegExp(`^-A KUBE-ROUTER-OUTPUT -[ds] ${podIp} .* -j KUBE-POD-FW-[A-Z2-7]{16}$`).test(l) && !/ --mark 0x20000\/0x20000 -j ACCEPT$/.test(l))).toEqual([]);
    // Nothing of the router or the proxy: no IPVS, no kube-dummy-if, no tunnels, no routes but the bridge's.
    expect(sh('ip', ['-o', 'link']).match(/kube-dummy-if|kube-bridge|tun-|tunl0@/g)).toBeNull();
    expect(node.logTail('kube-router', 400)).not.toMatch(/BGP|gobgp|IPVS|ipvs|routing controller|service proxy/i);
  });

  test('without a policy both clients reach the server', async () => {
    expect((await once('client-allowed')).result).toBe('ok');
    expect((await once('client-other')).result).toBe('ok');
  }, 60_000);

  test('an ingress policy admitting role=allowed on the port: the allowed client reaches the server, the other is refused', async () => {
    await measure('ingress policy to effect', 'client-other', 'until-blocked', () => policy({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'server-admits-allowed', namespace: NS },
      spec: {
        podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'allowed' } } }], ports: [{ protocol: 'TCP', port: PORT }] }],
      },
    }));
    expect((await once('client-allowed')).result).toBe('ok');
    for (let i = 0; i < 3; i++) expect((await once('client-other')).result).toMatch(/^(ECONNREFUSED|TIMEOUT)$/);
    // The node's own traffic passes (kube-router admits local sources): the kubelet's readiness probe keeps the server Ready.
    expect((await fetch(`http://${serverIp}:${PORT}/health`)).status).toBe(200);
    const ready = JSON.parse(await kubectl(['-n', NS, 'get', 'pod', 'server', '-o', 'json'])).status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready.status).toBe('True');
  }, 90_000);

  test('an egress policy denying all egress of the allowed client stops it too', async () => {
    await measure('egress policy to effect', 'client-allowed', 'until-blocked', () => policy({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allowed-no-egress', namespace: NS },
      spec: { podSelector: { matchLabels: { role: 'allowed' } }, policyTypes: ['Egress'], egress: [] },
    }));
    for (let i = 0; i < 3; i++) expect((await once('client-allowed')).result).toMatch(/^(ECONNREFUSED|TIMEOUT)$/);
    expect((await once('client-other')).result).toMatch(/^(ECONNREFUSED|TIMEOUT)$/);
  }, 90_000);

  test('deleting the policies restores access', async () => {
    await measure('egress policy deleted to effect', 'client-allowed', 'until-ok', () => deletePolicy('allowed-no-egress'));
    expect((await once('client-other')).result).toMatch(/^(ECONNREFUSED|TIMEOUT)$/);
    await measure('ingress policy deleted to effect', 'client-other', 'until-ok', () => deletePolicy('server-admits-allowed'));
    expect((await once('client-allowed')).result).toBe('ok');
    expect((await once('client-other')).result).toBe('ok');
  }, 90_000);

  test('stopping the node removes kube-router, its chains and ipsets, and state a killed run left', async () => {
    await policy({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'server-admits-allowed', namespace: NS },
      spec: { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'allowed' } } }] }] },
    });
    const sets = () => sh('ipset', ['list', '-n']).split('\n').filter((n) => /^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-)/.test(n));
    await waitFor('the policy\'s ipsets', async () => sets().length > 0, 30_000);
    // What a killed run would leave: a set and a chain whose rule references it.
    sh('ipset', ['create', 'KUBE-SRC-STALETESTSTALE0', 'hash:ip']);
    sh('iptables', ['-t', 'filter', '-N', 'KUBE-POD-FW-STALETESTSTALE0']);
    sh('iptables', ['-t', 'filter', '-A', 'KUBE-POD-FW-STALETESTSTALE0', '-m', 'set', '--match-set', 'KUBE-SRC-STALETESTSTALE0', 'src', '-j', 'DROP']);
    await node.stop();
    expect(sets()).toEqual([]);
    expect(sh('iptables-save', []).split('\n').filter((l) => /KUBE-|CNI-|cim-node/.test(l))).toEqual([]);
    expect(pgrep('kube-router --run-firewall=true')).toEqual([]);
  }, 60_000);
});
