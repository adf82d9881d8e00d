/**
 * The real LeaderWorkerSet controller (sigs.k8s.io/lws, built from the Go module proxy by
 * tools/build-lws.sh) run as a host process against a test control plane, with its real
 * admission webhooks and its CRDs from the same module.
 *
 * Webhooks. The manager serves five on controller-runtime's webhook server: LeaderWorkerSet
 * defaulting (restartPolicy, rolloutStrategy, networkConfig.subdomainPolicy) and validation,
 * Pod defaulting (the group-index/worker-index labels, the group key, the LWS_* env vars,
 * exclusive-placement affinities) and validation, DisaggregatedSet validation. Without the Pod
 * one, worker pods get no worker-index and no LWS_* variables, so the webhooks must run.
 * Upstream's internal cert management (open-policy-agent cert-controller, on by default) makes a
 * CA and a serving certificate for `lws-webhook-service.<ns>.svc`, stores them in a Secret and
 * injects the CA into `lws-{mutating,validating}-webhook-configuration`: a Service name only a
 * cluster resolves, while this manager and the apiserver both run on the host. So here internal
 * cert management is off (`internalCertManagement.enable: false`, after which the manager closes
 * its certs-ready channel at once), the harness makes a CA and a certificate for 127.0.0.1
 * (pki.ts) and writes `tls.crt`/`tls.key` into `webhook.certDir`, the server listens on
 * 127.0.0.1, and upstream's webhook configurations (config/webhook/manifests.yaml with its
 * kustomize patches, which limit the Pod webhooks to pods labelled
 * `leaderworkerset.sigs.k8s.io/name`) are registered with `url: https://127.0.0.1:<port><path>`
 * and the harness' CA as caBundle. Everything else is upstream's code path.
 *
 * No leader election, no metrics server; readiness and liveness on a loopback port.
 * The manager reads KUBECONFIG (controller-runtime's GetConfigOrDie).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { cacheRoot, versions } from './binaries';
import { ControlPlane, freePort, installCrd } from './control-plane';
import { makePki } from './pki';
import { waitFor } from './wait';

export const LWS_GROUP = 'leaderworkerset.x-k8s.io';
/** Labels the controller and its Pod webhook put on every pod of a group. */
export const LWS_LABELS = {
  name: 'leaderworkerset.sigs.k8s.io/name',
  groupIndex: 'leaderworkerset.sigs.k8s.io/group-index',
  workerIndex: 'leaderworkerset.sigs.k8s.io/worker-index',
  groupKey: 'leaderworkerset.sigs.k8s.io/group-key',
} as const;
/** The names upstream's cert manager uses for the two webhook configurations. */
const MUTATING = 'lws-mutating-webhook-configuration';
const VALIDATING = 'lws-validating-webhook-configuration';

export function lwsVersion(): string {
  return versions().LWS_VERSION ?? 'v0.9.0';
}

/** Where tools/build-lws.sh put `lws-controller-manager`, `crds/` and `webhook/`. */
export function lwsDir(): string {
  return process.env.CIM_LWS_DIR ?? path.join(cacheRoot(), 'lws', lwsVersion());
}

/** True when the build exists; in CI it must (`tools/setup.sh` builds it). */
export function haveLws(): boolean {
  const dir = lwsDir();
  const ok = ['lws-controller-manager', 'crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml', 'webhook/manifests.yaml'].every((f) => fs.existsSync(path.join(dir, f)));
  if (!ok && process.env.CI) throw new Error(`LeaderWorkerSet build missing in ${dir}: run tools/build-lws.sh`);
  return ok;
}

/** LeaderWorkerSet and DisaggregatedSet CRDs; both are needed: the manager runs a controller for each and would stop if a kind were missing. */
export function lwsCrds(): any[] {
  const dir = path.join(lwsDir(), 'crds');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON()).filter(Boolean));
}

export async function installLwsCrds(cp: ControlPlane): Promise<string[]> {
  const crds = lwsCrds();
  await Promise.all(crds.map((crd) => installCrd(cp, crd)));
  return crds.map((c) => c.metadata.name);
}

/** Applies kustomize's JSON6902 `replace` ops (all upstream's webhook patches use) to a parsed object. */
function applyReplacePatches(obj: any, ops: any[]): any {
  for (const op of ops) {
    if (op.op !== 'replace') throw new Error(`unexpected patch op ${op.op}`);
    const keys = String(op.path).split('/').slice(1);
    const parent = keys.slice(0, -1).reduce((o, k) => o[k], obj);
    parent[keys[keys.length - 1]] = op.value;
  }
  return obj;
}

/**
 * Upstream's webhook configurations, named as its cert manager names them, each webhook pointing
 * at `https://127.0.0.1:<port><its path>` with `caBundle`.
 */
export function lwsWebhookConfigurations(port: number, caPem: string): any[] {
  const dir = path.join(lwsDir(), 'webhook');
  const docs = parseAllDocuments(fs.readFileSync(path.join(dir, 'manifests.yaml'), 'utf8')).map((d) => d.toJSON()).filter(Boolean);
  const patches: Record<string, string> = { MutatingWebhookConfiguration: 'mutating-patch.yaml', ValidatingWebhookConfiguration: 'validating-patch.yaml' };
  const caBundle = Buffer.from(caPem).toString('base64');
  return docs.map((doc) => {
    applyReplacePatches(doc, parseYaml(fs.readFileSync(path.join(dir, patches[doc.kind]), 'utf8')));
    doc.metadata = { name: doc.kind === 'MutatingWebhookConfiguration' ? MUTATING : VALIDATING };
    for (const w of doc.webhooks) w.clientConfig = { url: `https://127.0.0.1:${port}${w.clientConfig.service.path}`, caBundle };
    return doc;
  });
}

export interface LwsOptions {
  /** Directory for its log, config and certificates; a temp dir it removes on stop when absent. */
  readonly dir?: string;
  /** More flags, e.g. `--zap-log-level=2`. */
  readonly args?: readonly string[];
  /** @default 90 s */
  readonly readyTimeoutMs?: number;
}

export interface RunningLws {
  readonly webhookUrl: string;
  readonly logFile: string;
  logTail(lines?: number): string;
  /** Stops the manager (SIGTERM) and removes its webhook configurations, so later pod writes do not fail on a dead endpoint. */
  stop(): Promise<void>;
}

/**
 * Starts the manager and registers its webhooks; resolves when the LeaderWorkerSet and Pod
 * controllers run and both webhooks answer (a server-side dry run is defaulted and an invalid
 * spec is refused by the webhooks, not the CRD schema). The CRDs must be installed first.
 */
export async function startLws(cp: ControlPlane, opts: LwsOptions = {}): Promise<RunningLws> {
  const ownDir = !opts.dir;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cim-lws-'));
  const [webhookPort, healthPort] = [await freePort(), await freePort()];
  const pki = makePki(path.join(dir, 'webhook-pki'), ['127.0.0.1'], ['localhost']);
  const certDir = path.join(dir, 'webhook-certs');
  fs.mkdirSync(certDir, { recursive: true });
  fs.copyFileSync(pki.serverCert, path.join(certDir, 'tls.crt'));
  fs.copyFileSync(pki.serverKey, path.join(certDir, 'tls.key'));
  const configFile = path.join(dir, 'lws-config.yaml');
  fs.writeFileSync(configFile, stringify({
    apiVersion: 'config.lws.x-k8s.io/v1alpha1', kind: 'Configuration',
    leaderElection: { leaderElect: false },
    internalCertManagement: { enable: false },
    webhook: { host: '127.0.0.1', port: webhookPort, certDir },
    // "0" turns controller-runtime's metrics server off (upstream serves it with TLS and apiserver authn/z on :8443).
    metrics: { bindAddress: '0' },
    health: { healthProbeBindAddress: `127.0.0.1:${healthPort}` },
  }));

  const configs = lwsWebhookConfigurations(webhookPort, fs.readFileSync(pki.caCert, 'utf8'));
  for (const c of configs) {
    const plural = c.kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations';
    const r = await cp.request('PATCH', `/apis/admissionregistration.k8s.io/v1/${plural}/${c.metadata.name}?fieldManager=test&force=true`, c, 'application/apply-patch+yaml');
    if (r.status >= 300) throw new Error(`${c.kind} ${c.metadata.name}: ${r.text}`);
  }
  const removeWebhooks = async () => {
    for (const c of configs) {
      const plural = c.kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations';
      await cp.request('DELETE', `/apis/admissionregistration.k8s.io/v1/${plural}/${c.metadata.name}`).catch(() => undefined);
    }
  };

  const logFile = path.join(dir, 'lws-controller-manager.log');
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(path.join(lwsDir(), 'lws-controller-manager'), [`--config=${configFile}`, ...(opts.args ?? [])], {
    stdio: ['ignore', log, log], env: { ...process.env, KUBECONFIG: cp.kubeconfig, HOME: dir },
  });
  child.on('exit', () => fs.closeSync(log));
  const logTail = (lines = 40) => fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n') : '';
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => { clearTimeout(t); resolve(); });
        child.kill('SIGTERM');
      });
    }
    await removeWebhooks();
    if (ownDir && !process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  };

  const probe = minimalLws('cim-lws-probe');
  try {
    const timeout = opts.readyTimeoutMs ?? 90_000;
    const alive = () => { if (child.exitCode !== null) throw new Error(`lws-controller-manager exited with ${child.exitCode}`); };
    await waitFor('lws-controller-manager /readyz', async () => { alive(); return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok; }, timeout);
    // Both controllers start their workers once their caches (LWS, StatefulSets, Services, Pods) synced.
    await waitFor('LeaderWorkerSet and Pod controllers running', async () => {
      alive();
      const text = fs.readFileSync(logFile, 'utf8');
      return /Starting workers.*"controller": "leaderworkerset"/.test(text) && /Starting workers.*"controller": "pod"/.test(text);
    }, timeout);
    // Only the mutating webhook sets networkConfig.subdomainPolicy (the CRD schema has no default for it).
    await waitFor('the LeaderWorkerSet defaulting webhook', async () => {
      alive();
      const r = await cp.request('POST', `/apis/${LWS_GROUP}/v1/namespaces/default/leaderworkersets?dryRun=All`, probe);
      if (r.status >= 300) throw new Error(r.body?.message ?? r.text);
      return r.body?.spec?.networkConfig?.subdomainPolicy === 'Shared';
    }, timeout);
    // maxUnavailable 0 with maxSurge 0 passes the CRD schema; only the validating webhook refuses it.
    const invalid = minimalLws('cim-lws-probe');
    invalid.spec.rolloutStrategy = { type: 'RollingUpdate', rollingUpdateConfiguration: { maxUnavailable: 0, maxSurge: 0 } };
    const r = await cp.request('POST', `/apis/${LWS_GROUP}/v1/namespaces/default/leaderworkersets?dryRun=All`, invalid);
    // A webhook's denial comes back as 403 Forbidden, naming the webhook.
    if (r.status !== 403 || !String(r.body?.message).includes('admission webhook "vleaderworkerset.kb.io" denied the request')) {
      throw new Error(`the LeaderWorkerSet validating webhook did not refuse maxUnavailable=0,maxSurge=0: ${r.status} ${r.text.slice(0, 500)}`);
    }
  } catch (e) {
    const tail = logTail(30);
    await stop();
    throw new Error(`${(e as Error).message}\n${tail}`);
  }
  return { webhookUrl: `https://127.0.0.1:${webhookPort}`, logFile, logTail, stop };
}

/** A LeaderWorkerSet with only what the API requires, for probes. */
function minimalLws(name: string): any {
  return {
    apiVersion: `${LWS_GROUP}/v1`, kind: 'LeaderWorkerSet', metadata: { name },
    spec: { leaderWorkerTemplate: { size: 1, workerTemplate: { spec: { containers: [{ name: 'c', image: 'localhost/pause:1' }] } } } },
  };
}

export async function getLws(cp: ControlPlane, namespace: string, name: string): Promise<any | undefined> {
  const r = await cp.request('GET', `/apis/${LWS_GROUP}/v1/namespaces/${namespace}/leaderworkersets/${name}`);
  return r.status === 200 ? r.body : undefined;
}

/** Resolves with the LeaderWorkerSet once `check` accepts it; the error carries the last status seen. */
export async function waitForLws(cp: ControlPlane, namespace: string, name: string, what: string, check: (lws: any) => boolean, timeoutMs = 180_000): Promise<any> {
  let last: any;
  try {
    return await waitFor(`LeaderWorkerSet ${namespace}/${name}: ${what}`, async () => {
      last = await getLws(cp, namespace, name);
      return last && check(last) ? last : undefined;
    }, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

/** Waits until `status.readyReplicas` (ready groups) is `n`. */
export function waitForLwsReadyReplicas(cp: ControlPlane, namespace: string, name: string, n: number, timeoutMs?: number): Promise<any> {
  return waitForLws(cp, namespace, name, `readyReplicas == ${n}`, (l) => (l.status?.readyReplicas ?? 0) === n, timeoutMs);
}

/** The pods of a LeaderWorkerSet (leaders and workers), optionally of one group. */
export async function lwsPods(cp: ControlPlane, namespace: string, name: string, groupIndex?: number): Promise<any[]> {
  const selector = [`${LWS_LABELS.name}=${name}`, ...(groupIndex === undefined ? [] : [`${LWS_LABELS.groupIndex}=${groupIndex}`])].join(',');
  const r = await cp.request('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  if (r.status !== 200) throw new Error(`pods of ${namespace}/${name}: ${r.text}`);
  return r.body.items;
}
