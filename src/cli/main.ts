/**
 * The `inference-monitoring` command line. Commands are thin wrappers over
 * the library; more arrive with the GitOps and controller work.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import type { Manifest } from '../render';
import type { FieldError } from '../spec/validate';
import { packageJson, requireOptionalPeers } from './package-info';

/*
 * Start-up: every command loads only what it uses (`render` does not load the controller, prom-client or
 * pg; `--help` loads none of the library). Each `require` below runs once, when its command runs.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const renderLib = () => ({
  ...(require('../render') as typeof import('../render')),
  ...(require('../plan/plan') as typeof import('../plan/plan')),
  ...(require('../spec/validate') as typeof import('../spec/validate')),
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
const RENDERED_FILE = /^[0-9]+-[a-z0-9]+-[a-z0-9.-]+\.yaml$/;

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
    .action((opts: { file: string; outputDir?: string }) => {
      const { parseAllDocuments, stackInputFromResource, planStack, renderPlan, collisionsBetween, SpecValidationError, manifestsYaml } = renderLib();
      const text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
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
      fs.mkdirSync(opts.outputDir, { recursive: true });
      const width = String(manifests.length).length;
      const written = new Set<string>();
      manifests.forEach((m, i) => {
        const name = `${[String(i).padStart(width, '0'), m.kind.toLowerCase(), m.metadata.namespace ?? 'cluster', m.metadata.name].join('-')}.yaml`;
        fs.writeFileSync(path.join(opts.outputDir!, name), manifestsYaml([m]));
        written.add(name);
      });
      // A file of an earlier render whose object is no longer rendered would be applied again: remove it (only files named as we name them).
      for (const f of fs.readdirSync(opts.outputDir)) if (RENDERED_FILE.test(f) && !written.has(f)) fs.rmSync(path.join(opts.outputDir, f));
      out.write(`wrote ${manifests.length} files to ${opts.outputDir}\n`);
    });

  program.command('alertmanager-config')
    .description('print the recommended Alertmanager configuration (grouping, inhibitions) for the Secret the stack\'s Alertmanager mounts')
    .option('--webhook-url <url>', 'webhook every alert goes to (written into the configuration)')
    .option('--webhook-url-file <file>', 'path, inside the Alertmanager pod, of a file holding the webhook URL (keeps a token out of the configuration)')
    .action((opts: { webhookUrl?: string; webhookUrlFile?: string }) => {
      if (!opts.webhookUrl === !opts.webhookUrlFile) throw new Error('give exactly one of --webhook-url and --webhook-url-file');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { configYaml } = require('../config-yaml') as typeof import('../config-yaml');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { recommendedAlertmanagerConfig } = require('../alerts/alertmanager-config') as typeof import('../alerts/alertmanager-config');
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
      const { ENGINE_NAMES } = require('../engines/names') as typeof import('../engines/names');
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
      const run = parseBenchmarkRun(JSON.parse(fs.readFileSync(opts.file, 'utf8')));
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
  program.command('controller')
    .description('run the controller that reconciles InferenceMonitoring resources (SIGTERM stops it gracefully)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster config or $KUBECONFIG)')
    .option('--namespace <ns>', 'watch one namespace (default: all)')
    .option('--metrics-port <port>', '/metrics, /healthz and /readyz port (0: any free port)', intBetween(0, 65535), 8080)
    .option('--workers <n>', 'concurrent reconciles', intBetween(1, 64), 2)
    .option('--resync-seconds <s>', 'periodic re-reconcile of every resource', intBetween(1, 86400), 300)
    .option('--leader-election-namespace <ns>', 'enable leader election with a Lease in this namespace')
    .action(async (opts: { kubeconfig?: string; namespace?: string; metricsPort: number; workers: number; resyncSeconds: number; leaderElectionNamespace?: string }) => {
      requireOptionalPeers(['@kubernetes/client-node', 'prom-client'], 'controller');
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { Controller } = require('../controller/manager') as typeof import('../controller/manager');
      const { KubeApi } = require('../controller/kube') as typeof import('../controller/kube');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const controller = new Controller({
        api: KubeApi.fromKubeconfig(opts.kubeconfig),
        namespace: opts.namespace,
        metricsPort: opts.metricsPort,
        workers: opts.workers,
        resyncMs: opts.resyncSeconds * 1000,
        leaderElection: opts.leaderElectionNamespace ? { namespace: opts.leaderElectionNamespace } : undefined,
      });
      await controller.start();
      await new Promise<void>((resolve) => {
        const stop = () => { void controller.stop().then(resolve); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
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
