/**
 * The `inference-monitoring` command line. Commands are thin wrappers over
 * the library; more arrive with the GitOps and controller work.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import type { Manifest } from '../render';
import type { FieldError } from '../api/validate';
import { packageJson, requireOptionalPeers } from './package-info';

/*
 * Start-up: every command loads only what it uses (`render` does not load the controller, prom-client or
 * pg; `--help` loads none of the library). Each `require` below runs once, when its command runs.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const renderLib = () => ({
  ...(require('../render') as typeof import('../render')),
  ...(require('../plan/plan') as typeof import('../plan/plan')),
  ...(require('../api/validate') as typeof import('../api/validate')),
  parseAllDocuments: (require('yaml') as typeof import('yaml')).parseAllDocuments,
  ...(require('../manifest-yaml') as typeof import('../manifest-yaml')),
});
/* eslint-enable @typescript-eslint/no-require-imports */

/** An integer option within bounds; anything else is refused before the command runs. */
const intBetween = (min: number, max: number) => (value: string): number => {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
  return Number(value);
};

/** Files `render --output-dir` writes: `<index>-<kind>-<namespace>-<name>.yaml`. */
/** SIGTERM to exit, at most: inside the install's 30 s termination grace period, so the kubelet never SIGKILLs. */
const CONTROLLER_STOP_DEADLINE_MS = 20_000;
const RENDERED_FILE = /^[0-9]+-[a-z0-9]+-[a-z0-9.-]+\.yaml$/;
/**
 * The record `render --output-dir` keeps in the directory: the files it wrote, one a line. The next
 * render removes those of them it does not write again, and nothing else: a user's own file is never
 * removed, whatever its name.
 */
export const RENDER_RECORD = '.inference-monitoring-render';
const RECORD_HEADER = '# Files `inference-monitoring render --output-dir` wrote here; the next render removes those it does not write again.';

/** Largest input `-f` reads: InferenceMonitoring documents are a few KiB; 8 MiB is far beyond any. */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/**
 * A file (or `-` for stdin) as UTF-8, refusing to read more than `max` bytes: `-f /dev/zero` or a
 * wrong path to a huge file ends at once with one line, instead of filling memory.
 */
export async function readBounded(file: string, max = MAX_INPUT_BYTES): Promise<string> {
  const name = file === '-' ? 'input' : file;
  const stream = file === '-' ? process.stdin : fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > max) throw new Error(`${name}: larger than ${max / 2 ** 20} MiB; InferenceMonitoring documents are far smaller`);
      chunks.push(chunk as Buffer);
    }
  } finally {
    if (file !== '-') (stream as fs.ReadStream).destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The files an earlier render recorded in `dir` (only plain names it could have written: a record edited to name `../x` removes nothing). */
function recordedFiles(dir: string): string[] {
  let text: string;
  try { text = fs.readFileSync(path.join(dir, RENDER_RECORD), 'utf8'); } catch { return []; }
  return text.split('\n').map((l) => l.trim()).filter((l) => RENDERED_FILE.test(l));
}

/** A `host:port` listen address (controller-runtime's `--metrics-bind-address` form: `:8080`, `127.0.0.1:8080`, `[::1]:8080`); port 0 picks a free one. */
const bindAddress = (value: string): { host?: string; port: number } => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('expected <host>:<port> (e.g. :8080, 127.0.0.1:8080, [::1]:8080) with a port from 0 to 65535');
  const host = m[1] ?? m[2];
  if (host && !m[1] && !/^[a-zA-Z0-9.-]+$/.test(host)) throw new InvalidArgumentError(`expected <host>:<port>: ${JSON.stringify(host)} is not a host name or address`);
  return { host: host || undefined, port };
};

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const program = new Command('inference-monitoring')
    .description('Render InferenceMonitoring resources into Kubernetes manifests')
    .version(packageJson().version, '-V, --version', 'print the version of the package')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) });
  let code = 0;
  program.command('render')
    .description('validate InferenceMonitoring documents and print the manifests the controller would apply (like helm template)')
    .requiredOption('-f, --file <file>', 'YAML file with one or more InferenceMonitoring documents, or - for stdin')
    .option('-o, --output-dir <dir>', 'write one file per object (<index>-<kind>-<namespace>-<name>.yaml) instead of printing')
    .action(async (opts: { file: string; outputDir?: string }) => {
      const { parseAllDocuments, stackInputFromResource, planStack, renderPlan, collisionsBetween, SpecValidationError, manifestsYaml } = renderLib();
      const text = await readBounded(opts.file);
      const manifests: Manifest[] = [];
      const rendered: Parameters<typeof collisionsBetween>[0][number][] = [];
      const errors: FieldError[] = [];
      const docs = parseAllDocuments(text).filter((d) => d.contents !== null && !(d.errors.length === 0 && d.toJSON() === null));
      // An empty file (a wrong path in a pipeline, a truncated checkout) must not render "nothing" successfully.
      if (docs.length === 0) throw new Error(`${opts.file === '-' ? 'input' : opts.file}: no InferenceMonitoring document`);
      // Every document is validated before anything is written: a bad file writes nothing.
      for (const [i, doc] of docs.entries()) {
        const where = docs.length > 1 ? `document ${i}: ` : '';
        if (doc.errors.length) { errors.push({ path: `${where}(yaml)`, message: doc.errors[0].message }); continue; }
        const input = stackInputFromResource(doc.toJSON());
        if (!input.ok) { errors.push(...input.errors.map((e) => ({ ...e, path: `${where}${e.path}` }))); continue; }
        const planned = planStack(input.value);
        if (!planned.ok) { errors.push(...planned.errors.map((e) => ({ ...e, path: `${where}${e.path}` }))); continue; }
        const objs = renderPlan(planned.value);
        rendered.push({ where, input: input.value, manifests: objs });
        manifests.push(...objs);
      }
      // Two resources of the file rendering one object would apply it twice, the last one winning.
      errors.push(...collisionsBetween(rendered));
      if (errors.length) throw new SpecValidationError(errors, opts.file === '-' ? 'input' : opts.file);
      if (!opts.outputDir) {
        out.write(manifestsYaml(manifests));
        return;
      }
      const dir = opts.outputDir;
      fs.mkdirSync(dir, { recursive: true });
      const earlier = recordedFiles(dir);
      const width = String(manifests.length).length;
      const names = manifests.map((m, i) => `${[String(i).padStart(width, '0'), m.kind.toLowerCase(), m.metadata.namespace ?? 'cluster', m.metadata.name].join('-')}.yaml`);
      const writeRecord = (files: readonly string[]) => {
        const tmp = path.join(dir, `${RENDER_RECORD}.tmp`);
        fs.writeFileSync(tmp, `${RECORD_HEADER}\n${files.map((f) => `${f}\n`).join('')}`);
        fs.renameSync(tmp, path.join(dir, RENDER_RECORD));
      };
      // Recorded before they are written, so a render interrupted half-way still knows every file it may have left.
      writeRecord([...new Set([...earlier, ...names])]);
      manifests.forEach((m, i) => fs.writeFileSync(path.join(dir, names[i]), manifestsYaml([m])));
      // A file an earlier render wrote whose object is no longer rendered would be applied again: remove it.
      // Only files of the record: a user's own file is never removed, whatever its name.
      for (const f of earlier) if (!names.includes(f)) fs.rmSync(path.join(dir, f), { force: true });
      writeRecord(names);
      out.write(`wrote ${manifests.length} files to ${dir}\n`);
    });

  program.command('alertmanager-config')
    .description('print the recommended Alertmanager configuration (grouping, inhibitions) for the Secret the stack\'s Alertmanager mounts')
    .option('--webhook-url <url>', 'webhook every alert goes to (written into the configuration)')
    .option('--webhook-url-file <file>', 'path, inside the Alertmanager pod, of a file holding the webhook URL (keeps a token out of the configuration)')
    .action((opts: { webhookUrl?: string; webhookUrlFile?: string }) => {
      if ((opts.webhookUrl === undefined) === (opts.webhookUrlFile === undefined)) throw new Error('give exactly one of --webhook-url and --webhook-url-file');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { configYaml } = require('../config-yaml') as typeof import('../config-yaml');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { recommendedAlertmanagerConfig, webhookUrlProblem, webhookUrlFileProblem } = require('../alerts/alertmanager-config') as typeof import('../alerts/alertmanager-config');
      // What Alertmanager would refuse is refused here, naming the flag (amtool check-config agrees: test/component/alertmanager.test.ts).
      const problem = opts.webhookUrl !== undefined ? webhookUrlProblem(opts.webhookUrl) : webhookUrlFileProblem(opts.webhookUrlFile!);
      if (problem) throw new Error(`${opts.webhookUrl !== undefined ? '--webhook-url' : '--webhook-url-file'} ${JSON.stringify(opts.webhookUrl ?? opts.webhookUrlFile)}: ${problem}`);
      out.write(configYaml(recommendedAlertmanagerConfig({ webhook: { url: opts.webhookUrl, urlFile: opts.webhookUrlFile } })));
    });

  const parseExpectation = (text: string) => {
    const m = /^(.+)=(-?[0-9.eE+-]+)(?:~([0-9.eE+-]+))?$/.exec(text);
    if (!m || Number.isNaN(Number(m[2]))) throw new Error(`--expect ${text}: expected <panel title>=<number>[~<relative tolerance>]`);
    return { panel: m[1], value: Number(m[2]), tolerance: m[3] !== undefined ? Number(m[3]) : 1e-6 };
  };
  program.command('check-dashboards')
    .description('serve /metrics samples to a local Prometheus and check that every dashboard panel query and alert/recording-rule signal returns data')
    .requiredOption('--fixtures <dir>', 'directory of samples: <engine>.prom, <engine>-rank<N>.prom (one per separately scraped rank), dcgm.prom')
    .option('--prometheus <path>', 'prometheus binary (default: $PROMETHEUS_BIN, the tools/ build cache, then PATH)')
    .option('--engine-version <engine=version...>', 'engine versions the dashboards are generated for (default: each profile\'s default), e.g. vllm=0.9.1')
    .option('--verbose', 'list every query with its values, not only those without data')
    .option('--rate-interval <duration>', 'what $__rate_interval becomes in panel queries (use a short one with --min-scrapes to check rates against recorded samples)', '1m')
    .option('--min-scrapes <n>', 'scrapes of every sample before the queries run', '3')
    .option('--timeout <seconds>', 'deadline of the whole check: Prometheus that never starts or never answers fails it', intBetween(1, 86400), 300)
    .option('--expect <panel=value...>', 'a panel (or rule) title and the value one of its series must have, e.g. "Active (running) requests=12" or "Decode tokens/s=50~0.01" (~ relative tolerance, default 1e-6)')
    .action(async (opts: { fixtures: string; prometheus?: string; verbose?: boolean; engineVersion?: string[]; rateInterval: string; minScrapes: string; timeout: number; expect?: string[] }) => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { ENGINE_NAMES } = require('../engines/engine-ids') as typeof import('../engines/engine-ids');
      const { checkDashboards, coverageTable } = require('../check/check-dashboards') as typeof import('../check/check-dashboards');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const versions: Record<string, string> = {};
      for (const pair of opts.engineVersion ?? []) {
        const [engine, version] = pair.split('=');
        if (!engine || !version || !(ENGINE_NAMES as readonly string[]).includes(engine)) throw new Error(`--engine-version ${pair}: expected <engine>=<version> with engine one of ${ENGINE_NAMES.join(', ')}`);
        versions[engine] = version;
      }
      const expectations = (opts.expect ?? []).map(parseExpectation);
      const minScrapes = Number(opts.minScrapes);
      if (!Number.isInteger(minScrapes) || minScrapes < 2) throw new Error(`--min-scrapes ${opts.minScrapes}: expected an integer of at least 2`);
      const report = await checkDashboards({ fixturesDir: opts.fixtures, prometheus: opts.prometheus, versions, rateInterval: opts.rateInterval, minScrapes, warmupSeconds: Math.max(60, minScrapes * 2), timeoutSeconds: opts.timeout });
      const { rows, complete } = coverageTable(report);
      out.write('engine        dashboard / rules                                   with data\n');
      for (const r of rows) {
        out.write(`${r.engine.padEnd(13)} ${r.dashboard.padEnd(51)} ${r.withData}/${r.total} (${Math.round((100 * r.withData) / r.total)}%)\n`);
      }
      const missing = report.results.filter((r) => r.series === 0 || opts.verbose);
      for (const r of missing) out.write(`${r.series > 0 ? 'ok     ' : 'NO DATA'} [${r.engine}] ${r.dashboard} / ${r.panel}: ${r.expr}${r.series > 0 ? ` = ${r.values.join(', ')}` : ''}${r.error ? ` (${r.error})` : ''}\n`);
      for (const e of expectations) {
        const candidates = report.results.filter((r) => r.panel === e.panel);
        const hit = candidates.some((r) => r.values.some((v) => Math.abs(v - e.value) <= e.tolerance * Math.max(1, Math.abs(e.value))));
        out.write(`${hit ? 'VALUE ok   ' : 'VALUE WRONG'} ${e.panel} = ${e.value}: ${candidates.length ? candidates.map((r) => `[${r.engine}] ${r.values.join(', ') || 'no data'}`).join('; ') : 'no such panel or rule'}\n`);
        if (!hit) code = 1;
      }
      if (report.unavailable.length) {
        out.write(`panels that state a signal is not available (not counted): ${report.unavailable.map((u) => `[${u.engine}] ${u.panel}`).join(', ')}\n`);
      }
      for (const i of report.implausible) {
        out.write(`IMPLAUSIBLE [${i.engine}] ${i.signal} (${i.metric}): ${i.what}: ${i.value}${i.bound !== undefined ? ` (largest bound ${i.bound})` : ''}\n`);
      }
      if (!complete || report.implausible.length) code = 1;
    });
  program.command('record-benchmark')
    .description('record a benchmark run (JSON) into the PostgreSQL benchmark schema, creating the schema if needed')
    .requiredOption('-f, --file <file>', 'JSON file with repository, branch, commitId, metadata.gpu_name, modelMeasurements[], deviceMeasurements[]')
    .option('--database-url <url>', 'postgres:// URL (default: $DATABASE_URL; credentials may also come from PGUSER/PGPASSWORD)')
    .option('--timeout <seconds>', 'deadline of the connection and of each statement: a database that never answers fails the command', intBetween(1, 3600), 30)
    .action(async (opts: { file: string; databaseUrl?: string; timeout: number }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { benchmarkClientConfig, ensureSchema, parseBenchmarkRun, recordBenchmark } = require('../benchmarks/loader') as typeof import('../benchmarks/loader');
      const run = parseBenchmarkRun(JSON.parse(await readBounded(opts.file)));
      // pg is loaded only for this command: the controller process should not carry it.
      requireOptionalPeers(['pg'], 'record-benchmark');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Client } = require('pg') as typeof import('pg');
      const db = new Client(benchmarkClientConfig(opts.databaseUrl ?? process.env.DATABASE_URL, opts.timeout));
      await db.connect();
      try {
        await ensureSchema(db);
        out.write(`recorded benchmark ${await recordBenchmark(db, run)}\n`);
      } finally {
        await db.end();
      }
    });
  program.command('install')
    .description('print the CRD, the Namespace and the controller install (ServiceAccount, RBAC, Deployment, Service, dashboard; ServiceMonitor and alerts unless --no-monitoring) for kubectl apply --server-side -f -')
    .requiredOption('--image <image>', 'controller image, [registry[:port]/]name:tag or name@sha256:<digest> (built from the Dockerfile)')
    .option('--namespace <ns>', 'namespace the controller runs in', 'inference-monitoring-system')
    .option('--replicas <n>', 'controller replicas (one leads, the others stand by)', intBetween(1, 100), 2)
    .option('--memory-limit <quantity>', 'memory limit of the controller container, 128Mi to 64Gi (V8\'s heap follows it); 256Mi holds 1,750 resources', '256Mi')
    .option('--no-monitoring', 'leave out the ServiceMonitor and PrometheusRule: they need the prometheus-operator CRDs (kube-prometheus-stack), the controller does not')
    .action((opts: { image: string; namespace: string; replicas: number; memoryLimit: string; monitoring: boolean }) => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { installManifests } = require('../install/install-manifests') as typeof import('../install/install-manifests');
      const { manifestsYaml } = require('../manifest-yaml') as typeof import('../manifest-yaml');
      /* eslint-enable @typescript-eslint/no-require-imports */
      let manifests;
      try {
        manifests = installManifests({ image: opts.image, namespace: opts.namespace, replicas: opts.replicas, memoryLimit: opts.memoryLimit, monitoring: opts.monitoring });
      } catch (e) {
        // The construct refuses bad props in one line naming the prop; here it names the flag.
        const flags: Record<string, string> = { image: '--image', namespace: '--namespace', memoryLimit: '--memory-limit', replicas: '--replicas' };
        throw new Error((e as Error).message.replace(/^ControllerInstall (image|namespace|memoryLimit|replicas):/, (_m, prop: string) => `${flags[prop]}:`));
      }
      out.write(manifestsYaml(manifests));
    });
  program.command('controller')
    .description('run the controller that reconciles InferenceMonitoring resources (SIGTERM stops it gracefully)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster config or $KUBECONFIG)')
    .option('--namespace <ns>', 'watch one namespace (default: all)')
    .option('--metrics-port <port>', '/metrics, /healthz and /readyz port (0: any free port); --metrics-bind-address replaces it', intBetween(0, 65535), 8080)
    .option('--metrics-bind-address <host:port>', 'address of /metrics, /healthz and /readyz, e.g. 127.0.0.1:8080 or [::1]:8080 (:8080: every interface, the default)', bindAddress)
    .option('--workers <n>', 'concurrent reconciles', intBetween(1, 64), 2)
    .option('--resync-seconds <s>', 'periodic re-reconcile of every resource', intBetween(1, 86400), 300)
    .option('--leader-election-namespace <ns>', 'enable leader election with a Lease in this namespace')
    .action(async (opts: { kubeconfig?: string; namespace?: string; metricsPort: number; metricsBindAddress?: { host?: string; port: number }; workers: number; resyncSeconds: number; leaderElectionNamespace?: string }) => {
      requireOptionalPeers(['@kubernetes/client-node', 'prom-client'], 'controller');
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { Controller } = require('../controller/manager') as typeof import('../controller/manager');
      const { KubeApi } = require('../controller/kube') as typeof import('../controller/kube');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const controller = new Controller({
        api: KubeApi.fromKubeconfig(opts.kubeconfig),
        namespace: opts.namespace,
        metricsPort: opts.metricsBindAddress?.port ?? opts.metricsPort,
        metricsHost: opts.metricsBindAddress?.host,
        workers: opts.workers,
        resyncMs: opts.resyncSeconds * 1000,
        leaderElection: opts.leaderElectionNamespace ? { namespace: opts.leaderElectionNamespace } : undefined,
      });
      // Listening before start(): start-up waits for the apiserver, and SIGTERM must end it meanwhile too.
      const stopped = new Promise<void>((resolve) => {
        const stop = () => {
          // Within the pod's grace period (30 s) whatever hangs: Controller.stop is bounded, this is the backstop.
          setTimeout(() => { process.stderr.write('{"msg":"shutdown took too long, exiting"}\n'); process.exit(1); }, CONTROLLER_STOP_DEADLINE_MS).unref();
          void controller.stop().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      // A start-up that fails (a metrics address that cannot be bound, an apiserver that refuses): stop what
      // started, then one line, as every other command reports an error.
      void controller.start().catch(async (e) => {
        await controller.stop().catch(() => undefined);
        process.stderr.write(`error: ${(e as Error).message}\n`);
        process.exit(1);
      });
      await stopped;
      // Stopped: nothing may keep the process past here (a socket a frozen connection left behind).
      setTimeout(() => process.exit(), 1000).unref();
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    err.write(`error: ${(e as Error).message}\n`);
    code = 1;
  }
  return code;
}
