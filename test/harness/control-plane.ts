/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver built
 * from the Go module proxy by tools/build-k8s.sh, started on loopback ports
 * in a temp dir, with a static admin token. No mocks.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { freePort } from '../../src/check/check-dashboards';
import { parseAllDocuments } from 'yaml';
import { cacheRoot, SHARED, versions } from './binaries';
import { ClusterPki, makePki } from './pki';

/** Where tools/build-k8s.sh put the binaries. */
export function k8sBinDir(): string {
  if (process.env.CIM_K8S_BIN) return process.env.CIM_K8S_BIN;
  const v = versions();
  return path.join(cacheRoot(), 'k8s', `${v.KUBE_VERSION}-kwok${v.KWOK_VERSION}`);
}

/** True when the binaries exist. In CI they must: `.ci/run` builds them. */
export function haveK8sBinaries(): boolean {
  const dir = k8sBinDir();
  const ok = ['etcd', 'kube-apiserver', 'kubectl'].every((b) => fs.existsSync(path.join(dir, b)));
  if (!ok && process.env.CI) throw new Error(`control-plane binaries missing in ${dir}: run tools/build-k8s.sh`);
  return ok;
}

export { freePort };

export interface HttpResult { status: number; body: any; text: string }

export interface ControlPlane {
  /** Stops kube-apiserver for `downMs`, then starts it again with the same flags and etcd data. */
  restartApiserver(downMs: number): Promise<void>;
  /** Stops etcd for `downMs` (the apiserver stays up and fails its requests), then starts it on the same data. */
  restartEtcd(downMs: number): Promise<void>;
  readonly server: string;
  readonly kubeconfig: string;
  /** With `forPods`: the CA that signed the apiserver's certificate (pods get it as `kube-root-ca.crt`), and the host address pods reach the apiserver at. */
  readonly pki?: ClusterPki;
  readonly hostIp?: string;
  readonly dir: string;
  request(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<HttpResult>;
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

const TOKEN = 'test-admin-token';
/** The kubelet's credentials (Node authorizer: user system:node:<name> in group system:nodes). */
export const NODE_NAME = 'cim-node';
export const NODE_TOKEN = 'test-node-token';
/** Service IP range; its first address is the `kubernetes` Service. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

/** The interface with the default route. */
export function defaultInterface(): string {
  const route = fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).find((r) => r[1] === '00000000');
  if (!route) throw new Error('no default route');
  return route[0];
}

/** The IPv4 address of the interface with the default route: what pods reach the host at. */
export function hostAddress(): string {
  const addr = os.networkInterfaces()[defaultInterface()]?.find((a) => a.family === 'IPv4');
  if (!addr) throw new Error('no IPv4 address on the default-route interface');
  return addr.address;
}

/** Starts a component with its output in `<dir>/<name>.log`. */
export function startProcess(name: string, bin: string, args: string[], dir: string): ChildProcess {
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(bin, args, { stdio: ['ignore', log, log], env: { ...process.env, HOME: dir } });
  child.on('exit', () => fs.closeSync(log));
  return child;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (await check()) return; } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      const tail = logFile && fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new Error(`${what} not ready after ${timeoutMs} ms\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

export interface ControlPlaneOptions {
  /**
   * Also run kube-controller-manager (garbage collection, Deployment → ReplicaSet → Pod),
   * kube-scheduler and kwok, with these fake nodes advertising `nvidia.com/gpu`.
   */
  readonly nodes?: ReadonlyArray<{ readonly name: string; readonly gpus: number }>;
  /**
   * Configure the control plane for a real kubelet node (test/harness/node.ts), as a
   * cluster runs it: the apiserver listens on every address and advertises the host's (pods
   * cannot reach the host's loopback), with a certificate from our own CA valid for the
   * `kubernetes` Service; ServiceAccount admission and token issuance; Node and RBAC
   * authorization with NodeRestriction; the lease endpoint reconciler (so the `kubernetes`
   * Service has endpoints); a client certificate for kubelets (logs, exec); and
   * kube-controller-manager (per-controller service accounts, root CA published) and
   * kube-scheduler.
   */
  readonly forPods?: boolean;
}

/** Starts etcd and kube-apiserver (and optionally the rest, see options); resolves when ready. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = k8sBinDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-cp-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];

  const etcdArgs = [
    '--name=default', `--data-dir=${dir}/etcd`,
    `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`, '--unsafe-no-fsync=true', '--log-level=warn',
  ];
  let etcd = startProcess('etcd', path.join(bin, 'etcd'), etcdArgs, dir);
  procs.push(etcd);
  await waitFor('etcd', async () => (await plainGet(`http://127.0.0.1:${etcdPort}/health`)).includes('true'), 30_000, `${dir}/etcd.log`);

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  fs.writeFileSync(`${dir}/sa.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(`${dir}/tokens.csv`, `${TOKEN},admin,admin-uid,"system:masters"\n${NODE_TOKEN},system:node:${NODE_NAME},node-uid,"system:nodes"\n`);
  fs.mkdirSync(`${dir}/pki`);
  const hostIp = options.forPods ? hostAddress() : undefined;
  const pki = hostIp ? makePki(`${dir}/ca`, ['127.0.0.1', hostIp, KUBERNETES_SERVICE_IP],
    ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']) : undefined;
  const apiserverArgs = pki ? [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`, `--cert-dir=${dir}/pki`,
    '--bind-address=0.0.0.0', `--advertise-address=${hostIp}`, `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`, `--client-ca-file=${pki.caCert}`,
    `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`,
    // Reach kubelets at their address, never by looking their host names up in the machine's resolver.
    '--kubelet-preferred-address-types=InternalIP',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${dir}/sa.key`, `--service-account-signing-key-file=${dir}/sa.key`,
    `--token-auth-file=${dir}/tokens.csv`, '--authorization-mode=Node,RBAC', '--allow-privileged=true',
    '--enable-admission-plugins=NodeRestriction',
    '--endpoint-reconciler-type=lease', '--profiling=false', '--v=1',
  ] : [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`, `--cert-dir=${dir}/pki`,
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    `--service-account-issuer=https://127.0.0.1:${apiPort}`,
    `--service-account-key-file=${dir}/sa.key`, `--service-account-signing-key-file=${dir}/sa.key`,
    `--token-auth-file=${dir}/tokens.csv`, '--authorization-mode=RBAC', '--allow-privileged=true',
    // No kube-controller-manager here: nothing would create the default ServiceAccount or untaint nodes.
    '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
    '--endpoint-reconciler-type=none', '--enable-priority-and-fairness=false', '--profiling=false', '--v=1',
    // Compact etcd often so watches resumed from old resource versions get 410 Gone, as in long-lived clusters.
    '--etcd-compaction-interval=10s',
  ];
  let apiserver = startProcess('kube-apiserver', path.join(bin, 'kube-apiserver'), apiserverArgs, dir);
  procs.push(apiserver);

  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = pki?.caCert ?? `${dir}/pki/apiserver.crt`;
  let ca: Buffer | undefined;
  const request = async (method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<HttpResult> => {
    ca ??= fs.readFileSync(caFile);
    return httpsJson(server + urlPath, method, ca, body, contentType);
  };
  await waitFor('kube-apiserver', async () => fs.existsSync(caFile) && (await request('GET', '/readyz')).status === 200, 90_000, `${dir}/kube-apiserver.log`);

  const kubeconfig = `${dir}/kubeconfig`;
  fs.writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', `- name: test`, `  cluster: {server: "${server}", certificate-authority: "${caFile}"}`,
    'users:', '- name: admin', `  user: {token: ${TOKEN}}`,
    'contexts:', '- name: test', '  context: {cluster: test, user: admin}', 'current-context: test', '',
  ].join('\n'));

  const kubectl = (args: string[], input?: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(path.join(bin, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });

  if (options.nodes || pki) {
    const [kcmPort, schedPort] = [await freePort(), await freePort()];
    procs.push(startProcess('kube-controller-manager', path.join(bin, 'kube-controller-manager'), [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, `--cert-dir=${dir}/kcm`,
      `--leader-elect=false`, `--use-service-account-credentials=${pki ? 'true' : 'false'}`, `--service-account-private-key-file=${dir}/sa.key`,
      ...(pki ? [`--root-ca-file=${pki.caCert}`] : []),
      '--controllers=*', '--kube-api-qps=1000', '--kube-api-burst=2000', '--node-monitor-grace-period=40s', '--concurrent-gc-syncs=5',
    ], dir));
    procs.push(startProcess('kube-scheduler', path.join(bin, 'kube-scheduler'), [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, `--cert-dir=${dir}/sched`,
    ], dir));
  }
  if (options.nodes) {
    procs.push(startProcess('kwok', path.join(bin, 'kwok'), [
      `--kubeconfig=${kubeconfig}`, `--config=${path.join(bin, 'kwok-stages.yaml')}`,
      '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-lease-duration-seconds=40', '--cidr=10.244.0.1/16',
    ], dir));
    for (const n of options.nodes) {
      const capacity = { cpu: '64', memory: '512Gi', 'ephemeral-storage': '1Ti', pods: '110', 'nvidia.com/gpu': String(n.gpus) };
      const res = await request('POST', '/api/v1/nodes', {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name: n.name, annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok', 'nvidia.com/gpu.present': 'true' } },
        status: { capacity, allocatable: capacity },
      });
      if (res.status >= 300) throw new Error(`node ${n.name}: ${res.text}`);
    }
    await waitFor('kwok nodes Ready', async () => {
      const r = await request('GET', '/api/v1/nodes');
      return r.body.items.length === options.nodes!.length && r.body.items.every((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && !(n.spec.taints ?? []).some((t: any) => t.key === 'node.kubernetes.io/not-ready'));
    }, 90_000, `${dir}/kwok.log`);
  }

  const restartApiserver = async (downMs: number) => {
    await stopProcess(apiserver);
    await new Promise((r) => setTimeout(r, downMs));
    apiserver = startProcess('kube-apiserver', path.join(bin, 'kube-apiserver'), apiserverArgs, dir);
    procs.splice(1, 1, apiserver);
    await waitFor('kube-apiserver after restart', async () => (await request('GET', '/readyz')).status === 200, 90_000, `${dir}/kube-apiserver.log`);
  };

  const restartEtcd = async (downMs: number) => {
    await stopProcess(etcd);
    await new Promise((r) => setTimeout(r, downMs));
    etcd = startProcess('etcd', path.join(bin, 'etcd'), etcdArgs, dir);
    procs.splice(0, 1, etcd);
    await waitFor('etcd after restart', async () => (await plainGet(`http://127.0.0.1:${etcdPort}/health`)).includes('true'), 30_000, `${dir}/etcd.log`);
    await waitFor('kube-apiserver sees etcd again', async () => (await request('GET', '/readyz')).status === 200, 90_000, `${dir}/kube-apiserver.log`);
  };

  return {
    restartApiserver,
    restartEtcd,
    server, kubeconfig, dir, request, kubectl, pki, hostIp,
    async stop() {
      for (const p of procs.reverse()) await stopProcess(p);
      if (!process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function plainGet(url: string): Promise<string> {
  return fetch(url).then((r) => r.text());
}

function httpsJson(url: string, method: string, ca: Buffer, body: unknown, contentType: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(url, {
      method, ca,
      headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json', ...(payload ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: any;
        try { parsed = JSON.parse(text); } catch { parsed = undefined; }
        resolve({ status: res.statusCode ?? 0, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Creates (or server-side applies) a CRD and waits until it is Established. */
export async function installCrd(cp: ControlPlane, crd: any): Promise<void> {
  const name = crd.metadata.name;
  const res = await cp.request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=test&force=true`, crd, 'application/apply-patch+yaml');
  if (res.status >= 300) throw new Error(`CRD ${name} rejected: ${res.body?.message?.slice(0, 2000) ?? res.text.slice(0, 2000)}`);
  await waitFor(`CRD ${name}`, async () => {
    const r = await cp.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    return (r.body?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
  }, 30_000);
}

/** The prometheus-operator CRDs from ../shared (ServiceMonitor, PodMonitor, PrometheusRule, Prometheus, …). */
export async function installPrometheusOperatorCrds(cp: ControlPlane): Promise<void> {
  const dir = path.join(SHARED, 'crds', 'prometheus-operator-v0.93.0');
  for (const f of fs.readdirSync(dir).sort()) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) if (d.toJSON()) await installCrd(cp, d.toJSON());
  }
}

/** Creates (or updates) a namespace; `annotations`, e.g. the controller's ALLOW_FROM_ANNOTATION opt-in. */
export async function ensureNamespace(cp: ControlPlane, name: string, annotations?: Record<string, string>): Promise<void> {
  const res = await cp.request('PATCH', `/api/v1/namespaces/${name}?fieldManager=test`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(annotations ? { annotations } : {}) } }, 'application/apply-patch+yaml');
  if (res.status >= 300) throw new Error(`namespace ${name}: ${res.text}`);
}
