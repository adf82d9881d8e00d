/**
 * A real Kubernetes node for tests, joined to a control plane started with
 * `forPods` (control-plane.ts): containerd and runc from Debian, CNI (bridge,
 * host-local, loopback, portmap), kubelet and kube-proxy built from the Go
 * module proxy (tools/build-k8s.sh) and CoreDNS (tools/build-node.sh) serving
 * the cluster's names. Images come from OCI archives (tools/build-images.sh);
 * nothing is pulled: every registry is pointed at a closed local port.
 *
 * Settings and why: ../shared/notes/real-node.md. In short, cgroups v1
 * (`failCgroupV1: false`), no `CAP_SYS_RESOURCE` (no negative oom_score_adj:
 * `restrict_oom_score_adj`, `oomScoreAdj: 0`), and every packet stays on this
 * machine: no masquerading, forwarded traffic from the pod bridge to any other
 * interface is dropped, host traffic to an untranslated Service IP is dropped,
 * kube-proxy has its rules in place before the first pod starts, and CoreDNS
 * forwards nothing. With `networkPolicy: true`, kube-router's firewall enforces
 * NetworkPolicies (policy-engine.ts).
 *
 * One node per machine (root, the bridge, global iptables chains and cgroups):
 * its state lives under a fixed directory so that a run killed half-way is
 * cleared by the next start, and `stop()` restores the machine. A lock file
 * makes a second test process wait for the running node to stop.
 */
import { ChildProcess, execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { versions, cacheRoot } from './binaries';
import { ControlPlane, defaultInterface, freePort, k8sBinDir, NODE_NAME, NODE_TOKEN, SERVICE_CIDR, startProcess } from './control-plane';
import { canRunPolicyEngine, clearPolicyEngineState, startPolicyEngine } from './policy-engine';
import { waitFor } from './wait';

/** Everything the node writes: containerd, kubelet, CNI state, pod logs. Its daemons carry it in their command lines, which is how cleanup finds them. */
export const NODE_BASE = '/var/lib/cim-node';
const BRIDGE = 'cim0';
export const POD_CIDR = '10.244.0.0/24';
const CLUSTER_CIDR = '10.244.0.0/16';
/** Tags every iptables rule of ours, so cleanup finds them. */
const RULE_COMMENT = 'cim-node';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const IP_FORWARD_SAVED = `${NODE_BASE}.ip_forward`;
/** Held (pid and start time) by the process whose node runs: a second test file waits instead of clearing a running node. */
const NODE_LOCK = `${NODE_BASE}.lock`;

/** An OCI archive and the name containerd gives it (`ctr images import --base-name`). */
export interface NodeImage { readonly archive: string; readonly name: string }

export interface NodeOptions {
  /** Images imported into containerd before the kubelet starts; one must be `localhost/pause:1`. */
  readonly images: readonly NodeImage[];
  /**
   * `nvidia.com/gpu` advertised in the node's capacity (an extended resource patched into
   * status, as for hardware without a device plugin): GPU pods schedule, no GPU exists.
   * @default 0
   */
  readonly gpus?: number;
  /**
   * Enforce NetworkPolicies: kube-router's firewall (policy-engine.ts) runs from when the node is
   * Ready, before the first pod. Without it, as in most bare CNI set-ups, policies are stored and
   * never enforced.
   * @default false
   */
  readonly networkPolicy?: boolean;
  /**
   * How long to wait for another process' node (one node per machine) to stop.
   * @default 480_000
   */
  readonly lockTimeoutMs?: number;
}

export interface TestNode {
  readonly name: string;
  /** The host address: kubelet, CoreDNS and the apiserver as pods see them. */
  readonly ip: string;
  /** Cluster DNS server (CoreDNS on the host address). */
  readonly dnsIp: string;
  readonly containerdSocket: string;
  /** `ctr -n k8s.io …` against this node's containerd. */
  ctr(args: string[]): Promise<string>;
  /** The last lines of a component's log (kubelet, containerd, kube-proxy, coredns, kube-router). */
  logTail(component: string, lines?: number): string;
  stop(): Promise<void>;
}

/** Directory of coredns built by tools/build-node.sh. */
export function corednsBin(): string {
  return path.join(cacheRoot(), 'coredns', versions().COREDNS_VERSION, 'coredns');
}

/** Whether this machine can run the node: root, the Debian packages and the built binaries. */
export function canRunNode(): { ok: boolean; why?: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  for (const b of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/bin/umoci', corednsBin(), path.join(k8sBinDir(), 'kubelet'), path.join(k8sBinDir(), 'kube-proxy')]) {
    if (!fs.existsSync(b)) return { ok: false, why: `${b} missing: run tools/setup.sh` };
  }
  return { ok: true };
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}
function trySh(cmd: string, args: string[], input?: string): string | undefined {
  try { return sh(cmd, args, input); } catch { return undefined; }
}

function killPid(pid: number): void { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }

/** Processes whose command line mentions the node's directory (containerd shims, daemons). */
function nodeProcesses(): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(NODE_BASE)) out.push(Number(d));
    } catch { /* exited */ }
  }
  return out;
}

/** Every process in a kubepods cgroup: the pods' containers. */
function podProcesses(): number[] {
  const root = '/sys/fs/cgroup/pids/kubepods';
  const out: number[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    try { out.push(...fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)); } catch { /* racing */ }
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(root);
  return out;
}

function removeCgroups(): void {
  for (const ctrl of fs.readdirSync('/sys/fs/cgroup')) {
    const rm = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(path.join(d, e.name));
      try { fs.rmdirSync(d); } catch { /* busy: a process survived; reported below */ }
    };
    const top = path.join('/sys/fs/cgroup', ctrl, 'kubepods');
    if (fs.existsSync(top)) rm(top);
  }
}

function unmountAll(): void {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(NODE_BASE));
  for (const m of mounts.reverse()) trySh('umount', ['-l', m]);
}

/** Removes our rules and the chains kube-proxy (KUBE-*) and the CNI plugins (CNI-*) made, keeping every other rule. */
function removeIptables(): void {
  for (const [save, restore] of [['iptables-save', 'iptables-restore'], ['ip6tables-save', 'ip6tables-restore']]) {
    const rules = trySh(save, []);
    if (!rules) continue;
    const ours = (l: string) => /^:(KUBE-|CNI-)/.test(l) || /^-A (KUBE-|CNI-)/.test(l) || /-j (KUBE-|CNI-)/.test(l) || l.includes(`--comment ${RULE_COMMENT}`) || l.includes(`--comment "${RULE_COMMENT}"`);
    const kept = rules.split('\n').filter((l) => !ours(l)).join('\n');
    if (kept !== rules) sh(restore, [], kept);
  }
}

/** Clears what a node left behind (this run's or a killed earlier run's) and restores ip_forward. */
export function clearNodeState(): void {
  for (let round = 0; round < 3; round++) {
    const pids = [...nodeProcesses(), ...podProcesses()];
    if (!pids.length) break;
    pids.forEach(killPid);
    execFileSync('sleep', ['0.5']);
  }
  unmountAll();
  removeCgroups();
  trySh('ip', ['link', 'del', BRIDGE]);
  removeIptables();
  clearPolicyEngineState();
  fs.rmSync(NODE_BASE, { recursive: true, force: true });
  if (fs.existsSync(IP_FORWARD_SAVED)) {
    fs.writeFileSync(IP_FORWARD, fs.readFileSync(IP_FORWARD_SAVED, 'utf8'));
    fs.rmSync(IP_FORWARD_SAVED);
  }
}

/**
 * Keeps the pod network on this machine. Forwarded packets from the bridge to another
 * interface are dropped in mangle/FORWARD (before kube-proxy's filter rules, which would
 * accept some); packets from the host to a Service IP that no kube-proxy rule translated are
 * dropped in filter/OUTPUT (it runs after nat/OUTPUT's DNAT).
 */
function guardNetwork(): void {
  const c = ['-m', 'comment', '--comment', RULE_COMMENT];
  for (const ipt of ['iptables', 'ip6tables']) sh(ipt, ['-t', 'mangle', '-I', 'FORWARD', '1', '-i', BRIDGE, '!', '-o', BRIDGE, ...c, '-j', 'DROP']);
  sh('iptables', ['-t', 'filter', '-I', 'OUTPUT', '1', '-d', SERVICE_CIDR, ...c, '-j', 'DROP']);
}

function startTime(pid: number): string | undefined {
  try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ')[19]; } catch { return undefined; }
}

/** Takes the machine's node lock, waiting while a live other process holds it; a dead holder's lock is taken over. */
async function lockNode(timeoutMs: number): Promise<void> {
  const me = `${process.pid} ${startTime(process.pid)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(NODE_LOCK, me, { flag: 'wx' });
      // Two processes taking over the same stale lock: the later removal wins; the loser sees it and waits.
      await new Promise((r) => setTimeout(r, 200));
      if (fs.readFileSync(NODE_LOCK, 'utf8') === me) return;
      continue;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = '';
    try { holder = fs.readFileSync(NODE_LOCK, 'utf8'); } catch { continue; }
    const [pid, start] = holder.split(' ');
    if (holder === me || !pid || startTime(Number(pid)) !== start) { fs.rmSync(NODE_LOCK, { force: true }); continue; }
    if (Date.now() > deadline) throw new Error(`another test's node runs on this machine (process ${pid}, ${NODE_LOCK}); one node per machine`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function unlockNode(): void {
  try { if (fs.readFileSync(NODE_LOCK, 'utf8').startsWith(`${process.pid} `)) fs.rmSync(NODE_LOCK); } catch { /* not ours or gone */ }
}

const REGISTRIES = ['_default', 'docker.io', 'registry-1.docker.io', 'quay.io', 'ghcr.io', 'nvcr.io', 'registry.k8s.io', 'gcr.io', 'public.ecr.aws', 'mcr.microsoft.com'];

export async function startNode(cp: ControlPlane, options: NodeOptions): Promise<TestNode> {
  if (!cp.pki || !cp.hostIp) throw new Error('startNode needs a control plane started with forPods: true');
  const can = canRunNode();
  if (!can.ok) throw new Error(`cannot run a node here: ${can.why}`);
  if (options.networkPolicy) {
    const engine = canRunPolicyEngine();
    if (!engine.ok) throw new Error(`cannot enforce NetworkPolicies here: ${engine.why}`);
  }
  await lockNode(options.lockTimeoutMs ?? 480_000);
  clearNodeState();
  for (const d of ['logs', 'containerd/root', 'containerd/state', 'cni/net.d', 'cni/ipam', 'kubelet', 'pod-logs', 'certs.d']) fs.mkdirSync(path.join(NODE_BASE, d), { recursive: true });
  fs.writeFileSync(IP_FORWARD_SAVED, fs.readFileSync(IP_FORWARD, 'utf8'));
  const procs: ChildProcess[] = [];
  const hostIp = cp.hostIp;
  const bin = k8sBinDir();
  const sock = path.join(NODE_BASE, 'containerd.sock');
  const p = (f: string) => path.join(NODE_BASE, f);
  const logs = p('logs');
  const logTail = (component: string, lines = 40) => {
    const f = path.join(logs, `${component}.log`);
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n') : '';
  };
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // The kubelet first, so nothing restarts containers while they are killed.
    for (const c of [...procs].reverse()) c.kill('SIGKILL');
    clearNodeState();
    unlockNode();
  };
  try {
    guardNetwork();
    const mtu = Number(fs.readFileSync(`/sys/class/net/${defaultInterface()}/mtu`, 'utf8'));
    fs.writeFileSync(p('cni/net.d/10-cim.conflist'), JSON.stringify({
      cniVersion: '0.4.0', name: 'cim',
      plugins: [
        { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true, mtu,
          ipam: { type: 'host-local', dataDir: p('cni/ipam'), ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }, null, 2));
    // Every registry resolves to a closed local port: a missing image fails here, it is never fetched.
    for (const r of REGISTRIES) {
      fs.mkdirSync(p(`certs.d/${r}`), { recursive: true });
      fs.writeFileSync(p(`certs.d/${r}/hosts.toml`), 'server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n');
    }
    fs.writeFileSync(p('containerd.toml'), [
      'version = 2', `root = "${p('containerd/root')}"`, `state = "${p('containerd/state')}"`, 'oom_score = 0',
      '[grpc]', `  address = "${sock}"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      '  sandbox_image = "localhost/pause:1"', '  restrict_oom_score_adj = true', '  netns_mounts_under_state_dir = true',
      '  disable_apparmor = true', '  tolerate_missing_hugetlb_controller = true', '  enable_selinux = false',
      '[plugins."io.containerd.grpc.v1.cri".containerd]', '  snapshotter = "overlayfs"', '  default_runtime_name = "runc"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]', '  SystemdCgroup = false',
      '[plugins."io.containerd.grpc.v1.cri".cni]', '  bin_dir = "/usr/lib/cni"', `  conf_dir = "${p('cni/net.d')}"`,
      '[plugins."io.containerd.grpc.v1.cri".registry]', `  config_path = "${p('certs.d')}"`, '',
    ].join('\n'));
    procs.push(startProcess('containerd', '/usr/bin/containerd', ['--config', p('containerd.toml')], logs));
    await waitFor('containerd', async () => fs.existsSync(sock) && (await run('ctr', ['-a', sock, 'version'])).code === 0, 30_000);
    const ctr = async (args: string[]) => {
      const r = await run('ctr', ['-a', sock, '-n', 'k8s.io', ...args]);
      if (r.code !== 0) throw new Error(`ctr ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    for (const img of options.images) {
      const [base] = splitName(img.name);
      await ctr(['images', 'import', '--base-name', base, img.archive]);
      const list = await ctr(['images', 'ls', '-q']);
      if (!list.split('\n').includes(img.name)) throw new Error(`image ${img.name} not imported from ${img.archive}; containerd has: ${list}`);
    }

    // Admin credentials for host components (kube-proxy, CoreDNS); the kubelet has its node identity.
    const adminKubeconfig = cp.kubeconfig;
    const nodeKubeconfig = p('kubelet/kubeconfig');
    fs.writeFileSync(nodeKubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cp.server, 'certificate-authority': cp.pki.caCert } }],
      users: [{ name: 'node', user: { token: NODE_TOKEN } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'node' } }], 'current-context': 'test',
    }));

    // kube-proxy before any pod: until its rules exist, a pod's packet to a Service IP would be routed off the machine.
    const [proxyHealth, proxyMetrics] = [await freePort(), await freePort()];
    fs.writeFileSync(p('kube-proxy.yaml'), stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: adminKubeconfig }, mode: 'iptables', clusterCIDR: CLUSTER_CIDR, hostnameOverride: NODE_NAME,
      // The node's address given: kube-proxy need not wait for the Node object, which the kubelet registers later.
      bindAddress: hostIp, nodePortAddresses: ['primary'],
      healthzBindAddress: `127.0.0.1:${proxyHealth}`, metricsBindAddress: `127.0.0.1:${proxyMetrics}`, oomScoreAdj: 0,
      // No sysctl writes for conntrack (the values are the kernel's already), no route_localnet.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false, syncPeriod: '1s', minSyncPeriod: '0s' },
    }));
    procs.push(startProcess('kube-proxy', path.join(bin, 'kube-proxy'), [`--config=${p('kube-proxy.yaml')}`, '--v=1'], logs));
    await waitFor('kube-proxy rules for the kubernetes Service', async () => (trySh('iptables', ['-t', 'nat', '-S', 'KUBE-SERVICES']) ?? '').includes('default/kubernetes'), 60_000);

    // CoreDNS on the host address: cluster names only; nothing is forwarded.
    const [dnsHealth, dnsReady] = [await freePort(), await freePort()];
    fs.writeFileSync(p('Corefile'), [
      '.:53 {', `  bind ${hostIp}`, '  errors', `  health 127.0.0.1:${dnsHealth}`, `  ready 127.0.0.1:${dnsReady}`,
      '  kubernetes cluster.local in-addr.arpa ip6.arpa {', `    kubeconfig ${adminKubeconfig} test`, '    pods insecure', '    fallthrough in-addr.arpa ip6.arpa', '    ttl 5', '  }',
      '  cache 5', '}', '',
    ].join('\n'));
    procs.push(startProcess('coredns', corednsBin(), ['-conf', p('Corefile')], logs));
    await waitFor('coredns ready', async () => (await fetch(`http://127.0.0.1:${dnsReady}/ready`)).ok, 30_000);

    fs.writeFileSync(p('resolv.conf'), `nameserver ${hostIp}\n`);
    const [kubeletPort, healthzPort] = [10250, await freePort()];
    fs.writeFileSync(p('kubelet/config.yaml'), stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
      cgroupDriver: 'cgroupfs', failCgroupV1: false, cgroupsPerQOS: true, enforceNodeAllocatable: ['pods'], failSwapOn: false, oomScoreAdj: 0,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: cp.pki.caCert } },
      authorization: { mode: 'Webhook' },
      containerRuntimeEndpoint: `unix://${sock}`, podLogsDir: p('pod-logs'),
      // Keep the imported images: there is no registry to pull them back from.
      imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      resolvConf: p('resolv.conf'), clusterDNS: [hostIp], clusterDomain: 'cluster.local',
      port: kubeletPort, healthzBindAddress: '127.0.0.1', healthzPort, readOnlyPort: 0,
      serializeImagePulls: false, nodeStatusUpdateFrequency: '4s', syncFrequency: '5s', fileCheckFrequency: '5s',
    }));
    procs.push(startProcess('kubelet', path.join(bin, 'kubelet'), [
      `--config=${p('kubelet/config.yaml')}`, `--kubeconfig=${nodeKubeconfig}`, `--root-dir=${p('kubelet')}`, `--cert-dir=${p('kubelet/pki')}`,
      `--hostname-override=${NODE_NAME}`, `--node-ip=${hostIp}`, `--containerd=${sock}`, '--v=1',
    ], logs));
    await waitFor('node Ready', async () => {
      const r = await cp.request('GET', `/api/v1/nodes/${NODE_NAME}`);
      return r.status === 200 && (r.body.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    }, 90_000);
    if (options.gpus) {
      const r = await cp.request('PATCH', `/api/v1/nodes/${NODE_NAME}/status`,
        [{ op: 'add', path: '/status/capacity/nvidia.com~1gpu', value: String(options.gpus) }], 'application/json-patch+json');
      if (r.status >= 300) throw new Error(`advertising GPUs: ${r.text}`);
      await waitFor('GPUs allocatable', async () => (await cp.request('GET', `/api/v1/nodes/${NODE_NAME}`)).body.status?.allocatable?.['nvidia.com/gpu'] === String(options.gpus), 30_000);
    }
    // The policy engine reads the registered Node (its InternalIP: which pods are local) and is in place before the first pod.
    if (options.networkPolicy) {
      procs.push(await startPolicyEngine({ nodeName: NODE_NAME, kubeconfig: adminKubeconfig, serviceCidr: SERVICE_CIDR, dir: p('kube-router'), logs }));
    }
    return {
      name: NODE_NAME, ip: hostIp, dnsIp: hostIp, containerdSocket: sock, ctr,
      logTail,
      stop,
    };
  } catch (e) {
    const tails = ['containerd', 'kube-proxy', 'coredns', 'kubelet', ...(options.networkPolicy ? ['kube-router'] : [])].map((c) => `--- ${c}\n${logTail(c, 25)}`).join('\n');
    await stop();
    throw new Error(`${(e as Error).message}\n${tails}`);
  }
}

/** `registry/repo:tag` → [`registry/repo`, `tag`]. */
function splitName(name: string): [string, string] {
  const i = name.lastIndexOf(':');
  return [name.slice(0, i), name.slice(i + 1)];
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}
