/**
 * Peer benchmark: our `inference-monitoring render` of N vLLM models against `helm template` of the
 * vLLM production-stack chart (vllm-stack 0.1.12, its subchart dependencies removed) with N models,
 * ServiceMonitors and dashboards on. Both are timed as whole processes (what the Argo CD plugin and CI
 * run), alternating, output to a file; medians. Helm is built from the Go module proxy by
 * tools/build-helm.sh (cached under ~/.cache); the chart is not ours and not in the repository:
 * BENCHMARKS.md says how to get it.
 *
 *   npm run bench:peer -- --chart DIR [--sizes 1,10,50] [--reps 10] [--helm PATH] [--no-bundle]
 *     [--bin FILE --module FILE [--no-bundle-check]] [--baseline FILE [--baseline-module FILE]]
 *   (or CIM_VLLM_STACK_CHART=DIR npm run bench:peer)
 *
 * N > 32 models (one InferenceMonitoring allows 32) are split into documents of at most 25.
 * --no-bundle runs our CLI from lib/ (CIM_CLI_BUNDLE=0) instead of the bundle (src/cli/bundle-loader.ts);
 * --bin and --module time another build of the CLI (its bin script and its main module), e.g. a copy of lib/ and bin/
 * that a concurrent tsc cannot change, or a previous commit's (--no-bundle-check when it has no bundle);
 * --baseline adds another build's bin as a third side of the same alternation (before/after in one run).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bundleFresh } from '../src/cli/bundle-loader';

const REPO = path.resolve(__dirname, '..', '..');
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const CHART_VERSION = '0.1.12';

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/** Copies the chart and drops its subchart dependencies (kube-prometheus-stack, prometheus-adapter). */
function prepareChart(src: string, dir: string): string {
  const chartYaml = path.join(src, 'Chart.yaml');
  if (!fs.existsSync(chartYaml)) throw new Error(`${src}: no Chart.yaml (give the production-stack repository's helm/ directory)`);
  const text = fs.readFileSync(chartYaml, 'utf8');
  if (!/^name: vllm-stack$/m.test(text)) throw new Error(`${chartYaml}: not the vllm-stack chart`);
  const version = /^version: (\S+)$/m.exec(text)?.[1];
  if (version !== CHART_VERSION) process.stderr.write(`warning: ${chartYaml} is version ${version}, the published figures are of ${CHART_VERSION}\n`);
  const out = path.join(dir, 'vllm-stack');
  fs.cpSync(src, out, { recursive: true });
  // `dependencies:` is the last top-level key of 0.1.12's Chart.yaml; cut it up to the next top-level key.
  fs.writeFileSync(path.join(out, 'Chart.yaml'), text.replace(/^dependencies:\n(?:[ \t-].*\n?|\n)*/m, ''));
  fs.rmSync(path.join(out, 'Chart.lock'), { force: true });
  fs.rmSync(path.join(out, 'charts'), { recursive: true, force: true });
  return out;
}

/** The chart's values for N models: one vLLM Deployment each, ServiceMonitors (engine, router) and dashboards on. */
function helmValues(n: number): string {
  const models = Array.from({ length: n }, (_, i) => [
    `    - name: model-${i}`,
    '      repository: vllm/vllm-openai',
    '      tag: v0.9.1',
    `      modelURL: ${MODEL}`,
    '      replicaCount: 1',
    '      requestCPU: 6',
    '      requestMemory: 16Gi',
    '      requestGPU: 1',
  ].join('\n'));
  return ['servingEngineSpec:', '  serviceMonitor:', '    enabled: true', '  modelSpec:', ...models,
    'routerSpec:', '  serviceMonitor:', '    enabled: true', 'grafanaDashboards:', '  enabled: true', ''].join('\n');
}

/** N vLLM models as InferenceMonitoring documents (one if N <= 32, else documents of at most 25). */
function ourInput(n: number): { text: string; documents: number } {
  const documents = n <= 32 ? 1 : Math.ceil(n / 25);
  const docs: string[] = [];
  let next = 0;
  for (let d = 0; d < documents; d++) {
    const count = Math.floor(n / documents) + (d < n % documents ? 1 : 0);
    const models = Array.from({ length: count }, () => `    - { name: model-${next++}, model: ${MODEL}, engine: vllm }`);
    docs.push(['apiVersion: monitoring.inference.dev/v1alpha1', 'kind: InferenceMonitoring',
      `metadata: { name: ${documents > 1 ? `bench-${d}` : 'bench'}, namespace: llm }`, 'spec:', '  models:', ...models].join('\n'));
  }
  return { text: `${docs.join('\n---\n')}\n`, documents };
}

interface Run { ms: number; cpuMs: number; objects: number; bytes: number }

/** CPU time (user + system) of this process's waited-for children, ms (Linux: /proc/self/stat cutime + cstime). */
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() || 100);
function childrenCpuMs(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

/** One whole-process run, stdout to a file (as `> out.yaml`); wall time from spawn to exit. */
function timed(cmd: string, args: string[], outFile: string, env: NodeJS.ProcessEnv): Run {
  const fd = fs.openSync(outFile, 'w');
  try {
    const cpu0 = childrenCpuMs();
    const start = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', fd, 'pipe'], env, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const cpuMs = childrenCpuMs() - cpu0;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr || r.error}`);
    const text = fs.readFileSync(outFile, 'utf8');
    return { ms, cpuMs, objects: (text.match(/^kind: /gm) ?? []).length, bytes: Buffer.byteLength(text) };
  } finally {
    fs.closeSync(fd);
  }
}

function helmBinary(given?: string): string {
  if (given) return given;
  const out = execFileSync('bash', [path.join(REPO, 'tools', 'build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return path.join(out.trim().split('\n').pop()!, 'helm');
}

function main(): void {
  const args = process.argv.slice(2);
  const chartSrc = opt(args, 'chart') ?? process.env.CIM_VLLM_STACK_CHART;
  if (!chartSrc) throw new Error('give the vllm-stack 0.1.12 chart: --chart DIR or CIM_VLLM_STACK_CHART=DIR (BENCHMARKS.md, "Peer benchmark", says how to get it)');
  const sizes = (opt(args, 'sizes') ?? '1,10,50').split(',').map(Number);
  const reps = Number(opt(args, 'reps') ?? '10');
  const helm = helmBinary(opt(args, 'helm'));
  const bin = path.resolve(opt(args, 'bin') ?? path.join(REPO, 'bin', 'inference-monitoring.js'));
  const cliModule = path.resolve(opt(args, 'module') ?? path.join(REPO, 'lib', 'src', 'cli', 'main.js'));
  const oursEnv = { ...process.env, ...(args.includes('--no-bundle') ? { CIM_CLI_BUNDLE: '0' } : {}) };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-'));
  try {
    const chart = prepareChart(path.resolve(chartSrc), tmp);
    const helmVersion = execFileSync(helm, ['version', '--short'], { encoding: 'utf8' }).trim();
    const inputs = sizes.map((n) => {
      const values = path.join(tmp, `values-${n}.yaml`);
      fs.writeFileSync(values, helmValues(n));
      const ours = ourInput(n);
      const file = path.join(tmp, `inference-monitoring-${n}.yaml`);
      fs.writeFileSync(file, ours.text);
      return { n, values, file, documents: ours.documents };
    });
    // --baseline BIN [--baseline-module FILE]: another build of our CLI (e.g. the previous commit's), timed in the same alternation.
    const baseline = opt(args, 'baseline') ? path.resolve(opt(args, 'baseline')!) : undefined;
    const baselineModule = opt(args, 'baseline-module') ? path.resolve(opt(args, 'baseline-module')!) : undefined;
    const sides = {
      base: (x: typeof inputs[number]) => timed(process.execPath, [baseline!, 'render', '-f', x.file], path.join(tmp, 'base.yaml'), process.env),
      baseLoad: () => timed(process.execPath, ['-e', `require(${JSON.stringify(baselineModule)})`], path.join(tmp, 'load.out'), process.env),
      ours: (x: typeof inputs[number]) => timed(process.execPath, [bin, 'render', '-f', x.file], path.join(tmp, 'ours.yaml'), oursEnv),
      helm: (x: typeof inputs[number]) => timed(helm, ['template', 'bench', chart, '--namespace', 'llm', '-f', x.values], path.join(tmp, 'helm.yaml'), process.env),
      node: () => timed(process.execPath, ['-e', '0'], path.join(tmp, 'node.out'), process.env),
      load: () => timed(process.execPath, ['-e', `require(${JSON.stringify(cliModule)})`], path.join(tmp, 'load.out'), process.env),
    };
    const bundled = !args.includes('--no-bundle') && !args.includes('--no-bundle-check');
    const fresh = () => {
      if (bundled && !bundleFresh(bin)) throw new Error(`the CLI bundle next to ${bin} is missing or older than its lib/ (a tsc since the build?): run npm run build, or time lib/ with --no-bundle (--no-bundle-check: a --bin without one)`);
    };
    fresh();
    const samples = new Map<string, Run[]>();
    const add = (key: string, r: Run) => samples.set(key, [...(samples.get(key) ?? []), r]);
    // One warm-up of each (page cache), not counted.
    for (const x of inputs) { sides.ours(x); sides.helm(x); if (baseline) sides.base(x); }
    for (let rep = 0; rep < reps; rep++) {
      add('node', sides.node());
      add('load', sides.load());
      if (baselineModule) add('baseLoad', sides.baseLoad());
      for (const x of inputs) {
        // Alternate which side goes first, so a slow spell of a shared machine hits both.
        const order: Array<'ours' | 'helm' | 'base'> = baseline ? (rep % 2 ? ['helm', 'base', 'ours'] : ['ours', 'base', 'helm']) : (rep % 2 ? ['helm', 'ours'] : ['ours', 'helm']);
        for (const side of order) add(`${side}-${x.n}`, sides[side](x));
      }
      fresh();
      process.stderr.write(`rep ${rep + 1}/${reps} done\n`);
    }
    const med = (key: string) => median(samples.get(key)!.map((r) => r.ms));
    const medCpu = (key: string) => median(samples.get(key)!.map((r) => r.cpuMs));
    const first = (key: string) => samples.get(key)![0];
    const cpu = os.cpus();
    console.log(`\n${helmVersion}, vllm-stack ${CHART_VERSION} (subcharts removed); ours: ${path.relative(REPO, bin)}${args.includes('--no-bundle') ? ' with CIM_CLI_BUNDLE=0' : ''}; Node ${process.version}; ${cpu.length} × ${cpu[0]?.model.trim()}; ${reps} alternating runs, medians\n`);
    console.log('| N models | ours | helm template | ratio | ours objects | helm objects | ours KiB | helm KiB | ours ms/object | helm ms/object | ours µs/KiB | helm µs/KiB | ours CPU ms | helm CPU ms |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of inputs) {
      const o = med(`ours-${x.n}`), h = med(`helm-${x.n}`);
      const fo = first(`ours-${x.n}`), fh = first(`helm-${x.n}`);
      const label = x.documents > 1 ? `${x.n} (${x.documents} documents)` : `${x.n}`;
      console.log(`| ${label} | ${o.toFixed(0)} ms | ${h.toFixed(0)} ms | ${(o / h).toFixed(1)}× | ${fo.objects} | ${fh.objects} | ${(fo.bytes / 1024).toFixed(0)} | ${(fh.bytes / 1024).toFixed(0)} | ${(o / fo.objects).toFixed(1)} | ${(h / fh.objects).toFixed(1)} | ${((o * 1000) / (fo.bytes / 1024)).toFixed(0)} | ${((h * 1000) / (fh.bytes / 1024)).toFixed(0)} | ${medCpu(`ours-${x.n}`).toFixed(0)} | ${medCpu(`helm-${x.n}`).toFixed(0)} |`);
    }
    console.log('\nper added model (difference of medians / models added):');
    for (let i = 1; i < inputs.length; i++) {
      const a = inputs[i - 1], b = inputs[i];
      const per = (side: string) => ((med(`${side}-${b.n}`) - med(`${side}-${a.n}`)) / (b.n - a.n)).toFixed(2);
      const perCpu = (side: string) => ((medCpu(`${side}-${b.n}`) - medCpu(`${side}-${a.n}`)) / (b.n - a.n)).toFixed(2);
      console.log(`  ${a.n} → ${b.n}: ours ${per('ours')} ms, helm ${per('helm')} ms (CPU: ours ${perCpu('ours')} ms, helm ${perCpu('helm')} ms)`);
    }
    console.log(`\nbare node (node -e 0): ${med('node').toFixed(0)} ms (CPU ${medCpu('node').toFixed(0)}); loading the CLI module (require ${path.relative(REPO, cliModule)}): ${med('load').toFixed(0)} ms (CPU ${medCpu('load').toFixed(0)})`);
    if (baseline) {
      console.log(`\nbaseline ${path.relative(REPO, baseline)}, same runs:\n`);
      console.log('| N models | baseline | ours | helm template | baseline ratio | ours ratio | baseline CPU ms | ours CPU ms |');
      console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const x of inputs) {
        const b = med(`base-${x.n}`), o = med(`ours-${x.n}`), h = med(`helm-${x.n}`);
        if (first(`base-${x.n}`).bytes !== first(`ours-${x.n}`).bytes) process.stderr.write(`warning: N=${x.n}: baseline and ours wrote different output sizes\n`);
        console.log(`| ${x.n} | ${b.toFixed(0)} ms | ${o.toFixed(0)} ms | ${h.toFixed(0)} ms | ${(b / h).toFixed(1)}× | ${(o / h).toFixed(1)}× | ${medCpu(`base-${x.n}`).toFixed(0)} | ${medCpu(`ours-${x.n}`).toFixed(0)} |`);
      }
      for (let i = 1; i < inputs.length; i++) {
        const a = inputs[i - 1], c = inputs[i];
        console.log(`  per added model ${a.n} → ${c.n}: baseline ${((med(`base-${c.n}`) - med(`base-${a.n}`)) / (c.n - a.n)).toFixed(2)} ms, ours ${((med(`ours-${c.n}`) - med(`ours-${a.n}`)) / (c.n - a.n)).toFixed(2)} ms`);
      }
      if (baselineModule) console.log(`  loading the baseline's CLI module (require ${path.relative(REPO, baselineModule)}): ${med('baseLoad').toFixed(0)} ms (CPU ${medCpu('baseLoad').toFixed(0)})`);
    }
    console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (the figures are only comparable on an idle machine)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
