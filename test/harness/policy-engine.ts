/**
 * The test node's NetworkPolicy engine: kube-router's network-policy firewall, built from the Go
 * module proxy by tools/build-kube-router.sh (version in tools/versions.env). Started by
 * `startNode(cp, { networkPolicy: true })` (node.ts) after the node is Ready; nothing else of
 * kube-router runs: no router (BGP, routes, tunnels, the AWS source/destination check), no service
 * proxy (IPVS), no load-balancer allocator, no CNI configuration, no health, metrics or pprof
 * listener. What it does is filter-table iptables chains (KUBE-ROUTER-*, KUBE-POD-FW-*,
 * KUBE-NWPLCY-*) and ipsets (KUBE-SRC-*, KUBE-DST-*, TMP-*): it only drops (REJECT) or accepts
 * packets, it routes and translates nothing, so the node's own guards (mangle FORWARD, filter
 * OUTPUT; node.ts) keep every packet on the machine.
 *
 * What it needs from the node, checked on this machine (kernel 6.18, cgroups v1, no module
 * loading): ip_set with hash:ip/hash:net and the iptables `set`, `physdev`, `addrtype`, `conntrack`,
 * `mark`, `limit`, `comment`, `multiport` matches and `REJECT`, `MARK`, `NFLOG` targets are built
 * into the kernel; bridge-nf-call-iptables is 1 (pod-to-pod traffic on the bridge traverses
 * FORWARD); Debian's `ipset` and `iptables` (nf_tables backend) binaries. It identifies local pods
 * by `status.hostIP` equal to the Node's InternalIP (the kubelet's `--node-ip`); the firewall never
 * reads `spec.podCIDR` (only kube-router's router does), so the harness leaves it unset. cgroups
 * play no part in it.
 *
 * kube-router's firewall always admits traffic whose source is a local address of the node
 * (`-m addrtype --src-type LOCAL`): kubelet probes and the host's own requests pass any policy.
 * Probe from pods to see a policy.
 */
import { ChildProcess, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cacheRoot, versions } from './binaries';
import { startProcess } from './control-plane';
import { waitFor } from './wait';

/** kube-router built by tools/build-kube-router.sh. */
export function kubeRouterBin(): string {
  return path.join(cacheRoot(), 'kube-router', versions().KUBE_ROUTER_VERSION, 'kube-router');
}

export function canRunPolicyEngine(): { ok: boolean; why?: string } {
  for (const b of ['/usr/sbin/ipset', '/usr/sbin/iptables', kubeRouterBin()]) {
    if (!fs.existsSync(b)) return { ok: false, why: `${b} missing: run tools/build-node.sh` };
  }
  return { ok: true };
}

/** The ipsets kube-router's firewall makes: KUBE-SRC-*, KUBE-DST-* and the TMP-<base32> sets of its atomic swaps (IPv6 ones prefixed `inet6:`). */
const IPSET = /^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-[A-Z2-7]{16}$)/;

/**
 * Destroys kube-router's ipsets (this run's or a killed earlier run's). Its iptables chains go
 * with node.ts' removal of KUBE-* chains, which must come first: a set referenced by a rule
 * cannot be destroyed.
 */
export function clearPolicyEngineState(): void {
  let names: string[];
  try {
    names = execFileSync('ipset', ['list', '-n'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n').filter((n) => IPSET.test(n));
  } catch { return; /* no ipset binary: nothing of ours can exist */ }
  for (const n of names) execFileSync('ipset', ['destroy', n], { stdio: 'pipe' });
}

export interface PolicyEngineOptions {
  /** The node's name (the Node object kube-router reads its InternalIP from). */
  readonly nodeName: string;
  /** An admin kubeconfig; copied into `dir` (the node's state directory: cleanup finds the process by it). */
  readonly kubeconfig: string;
  readonly serviceCidr: string;
  readonly dir: string;
  readonly logs: string;
}

/** The arguments kube-router runs with: the firewall only. */
export function kubeRouterArgs(o: { nodeName: string; kubeconfig: string; serviceCidr: string }): string[] {
  return [
    '--run-firewall=true', '--run-router=false', '--run-service-proxy=false', '--run-loadbalancer=false',
    `--kubeconfig=${o.kubeconfig}`, `--hostname-override=${o.nodeName}`,
    // The Service range: kube-router's INPUT chain lets pods' traffic to it through (kube-proxy's rules translate it).
    `--service-cluster-ip-range=${o.serviceCidr}`,
    '--enable-ipv4=true', '--enable-ipv6=false',
    // No listener: the health server would serve net/http's default mux (pprof included) on every address.
    '--health-port=0', '--metrics-port=0',
    // Policy, pod and namespace events resync at once; the periodic full sync is a safety net.
    '--iptables-sync-period=1m', '--v=1',
  ];
}

/** Starts kube-router's firewall; resolves after its first full sync of the filter table. */
export async function startPolicyEngine(o: PolicyEngineOptions): Promise<ChildProcess> {
  const can = canRunPolicyEngine();
  if (!can.ok) throw new Error(`no policy engine: ${can.why}`);
  fs.mkdirSync(o.dir, { recursive: true });
  const kubeconfig = path.join(o.dir, 'kubeconfig');
  fs.copyFileSync(o.kubeconfig, kubeconfig);
  const child = startProcess('kube-router', kubeRouterBin(), kubeRouterArgs({ nodeName: o.nodeName, kubeconfig, serviceCidr: o.serviceCidr }), o.logs);
  const log = path.join(o.logs, 'kube-router.log');
  await waitFor('kube-router firewall synced', async () => {
    if (child.exitCode !== null) throw new Error(`kube-router exited with ${child.exitCode}`);
    const text = fs.readFileSync(log, 'utf8');
    const forward = execFileSync('iptables', ['-t', 'filter', '-S', 'FORWARD'], { encoding: 'utf8' });
    return /sync iptables took/.test(text) && forward.includes('-j KUBE-ROUTER-FORWARD');
  }, 60_000).catch((e) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- kube-router\n${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-25).join('\n') : ''}`);
  });
  return child;
}
