/**
 * The real prometheus-operator (built from the Go module proxy by
 * tools/build-operator.sh) run as a host process against a test control plane,
 * with all of its CRDs from the same module.
 *
 * What it needs here: a kubeconfig (it has no --kubeconfig flag, it reads
 * KUBECONFIG), a web port, and its CRDs. No admission webhooks: the operator
 * only serves the webhook endpoints on its web port, it never registers them,
 * and the standard CRDs (upstream's bundle.yaml; crds/ of the build) serve one
 * version each, so no conversion webhook either (the "full" AlertmanagerConfig
 * CRD with v1beta1 would need one). The kubelet Endpoints controller is off
 * unless --kubelet-service is given. Without kube-controller-manager and a
 * kubelet it still writes everything it owns: the StatefulSet
 * `prometheus-<name>`, the config Secret `prometheus-<name>` with
 * `prometheus.yaml.gz`, the `prometheus-operated` Service; no pod ever runs,
 * so the Prometheus' Available condition stays False.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { cacheRoot, versions } from './binaries';
import { ControlPlane, freePort, installCrd } from './control-plane';
import { waitFor } from './wait';

/** The operator version tools/build-operator.sh builds (tools/versions.env, else its default). */
export function operatorVersion(): string {
  return versions().PROMETHEUS_OPERATOR_VERSION ?? 'v0.93.0';
}

/** Where tools/build-operator.sh put `operator`, `prometheus-config-reloader` and `crds/`. */
export function operatorDir(): string {
  return process.env.CIM_OPERATOR_DIR ?? path.join(cacheRoot(), 'prometheus-operator', operatorVersion());
}

/** True when the build exists; in CI it must (`tools/setup.sh` builds it). */
export function haveOperator(): boolean {
  const dir = operatorDir();
  const ok = ['operator', 'prometheus-config-reloader', 'crds/monitoring.coreos.com_prometheuses.yaml'].every((f) => fs.existsSync(path.join(dir, f)));
  if (!ok && process.env.CI) throw new Error(`prometheus-operator build missing in ${dir}: run tools/build-operator.sh`);
  return ok;
}

/** Every CRD the operator ships (Prometheus, PrometheusAgent, Alertmanager, AlertmanagerConfig, ThanosRuler, ServiceMonitor, PodMonitor, Probe, ScrapeConfig, PrometheusRule). */
export function operatorCrds(): any[] {
  const dir = path.join(operatorDir(), 'crds');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON()).filter(Boolean));
}

/** Server-side applies all of the operator's CRDs and waits until each is Established. */
export async function installOperatorCrds(cp: ControlPlane): Promise<string[]> {
  const crds = operatorCrds();
  await Promise.all(crds.map((crd) => installCrd(cp, crd)));
  return crds.map((c) => c.metadata.name);
}

export interface OperatorOptions {
  readonly kubeconfig: string;
  /** Namespaces it watches and writes in (--namespaces); all when absent. */
  readonly namespaces?: readonly string[];
  /** The config-reloader sidecar image it puts in the StatefulSet. @default quay.io/prometheus-operator/prometheus-config-reloader:<version> */
  readonly configReloaderImage?: string;
  /** More flags, e.g. `--prometheus-default-base-image=localhost/prometheus`, `--cluster-domain=cluster.local`. */
  readonly args?: readonly string[];
  /** Directory for its log; a temp dir it removes on stop when absent. */
  readonly dir?: string;
  /** @default 60 s */
  readonly readyTimeoutMs?: number;
}

export interface RunningOperator {
  /** Its web server: /metrics, /healthz and the (unregistered) admission endpoints. */
  readonly url: string;
  readonly logFile: string;
  logTail(lines?: number): string;
  /** `prometheus_operator_*` and the rest of its /metrics text. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the operator; resolves when its Prometheus controller reports ready (`prometheus_operator_ready{controller="prometheus"} 1`). */
export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const ownDir = !opts.dir;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cim-operator-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(dir, 'prometheus-operator.log');
  const log = fs.openSync(logFile, 'a');
  const args = [
    `--web.listen-address=127.0.0.1:${port}`,
    // The kubelet Endpoints controller stays off (an empty --kubelet-service is its default).
    '--kubelet-service=',
    `--prometheus-config-reloader=${opts.configReloaderImage ?? `quay.io/prometheus-operator/prometheus-config-reloader:${operatorVersion()}`}`,
    ...(opts.namespaces?.length ? [`--namespaces=${opts.namespaces.join(',')}`] : []),
    ...(opts.args ?? []),
  ];
  const child: ChildProcess = spawn(path.join(operatorDir(), 'operator'), args, {
    stdio: ['ignore', log, log], env: { ...process.env, KUBECONFIG: opts.kubeconfig, HOME: dir },
  });
  child.on('exit', () => fs.closeSync(log));
  const logTail = (lines = 40) => fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n') : '';
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => { clearTimeout(t); resolve(); });
        child.kill('SIGTERM');
      });
    }
    if (ownDir && !process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('prometheus-operator ready', async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      return /^prometheus_operator_ready\{controller="prometheus"\} 1$/m.test(await metrics());
    }, opts.readyTimeoutMs ?? 60_000);
  } catch (e) {
    const tail = logTail(30);
    await stop();
    throw new Error(`${(e as Error).message}\n${tail}`);
  }
  return { url, logFile, logTail, metrics, stop };
}

/** The configuration the operator generated for Prometheus `name`: Secret `prometheus-<name>`, key `prometheus.yaml.gz`, gunzipped; undefined until it exists. */
export async function generatedPrometheusConfig(cp: ControlPlane, namespace: string, name: string): Promise<GeneratedConfig | undefined> {
  const res = await cp.request('GET', `/api/v1/namespaces/${namespace}/secrets/prometheus-${name}`);
  const b64 = res.status === 200 ? res.body?.data?.['prometheus.yaml.gz'] : undefined;
  if (!b64) return undefined;
  const gz = Buffer.from(b64, 'base64');
  const text = gunzipSync(gz).toString('utf8');
  return { gz, text, config: parseYaml(text) };
}

export interface GeneratedConfig {
  /** `prometheus.yaml.gz` as the Secret holds it. */
  readonly gz: Buffer;
  /** Gunzipped: still with the `$(POD_NAME)` and `$(SHARD)` placeholders the config-reloader fills in. */
  readonly text: string;
  readonly config: any;
}

/**
 * What the config-reloader sidecar hands Prometheus: runs the built `prometheus-config-reloader` once
 * (`--watch-interval=0`, as the StatefulSet's init container does) on the gzipped config with
 * POD_NAME and SHARD set, and returns the path of the substituted `prometheus.env.yaml` it wrote in `dir`.
 */
export function substituteConfig(gz: Buffer, dir: string, env: { POD_NAME: string; SHARD?: string }): Promise<string> {
  const input = path.join(dir, 'prometheus.yaml.gz');
  const output = path.join(dir, 'prometheus.env.yaml');
  fs.writeFileSync(input, gz);
  return new Promise((resolve, reject) => {
    execFile(path.join(operatorDir(), 'prometheus-config-reloader'), [
      '--watch-interval=0', `--config-file=${input}`, `--config-envsubst-file=${output}`,
      '--listen-address=127.0.0.1:0', '--reload-url=http://127.0.0.1:1/-/reload',
    ], { env: { ...process.env, SHARD: '0', ...env }, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`prometheus-config-reloader: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(output);
    });
  });
}
