/**
 * Synth benchmark: time and peak memory to synthesize N stacks (one vLLM
 * model each, full monitoring) with our constructs, against the floor of the
 * same manifests as plain cdk8s ApiObjects, built and serialized (synthYaml)
 * the same way. Each measurement runs in a fresh process (peak RSS is per
 * process); the median of the repetitions is reported.
 *
 *   npm run bench:synth [-- --sizes 1,10,50,200 --reps 5]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart, Yaml } from 'cdk8s';
import { addStack, renderManifests } from '../src/render';
import { StackChart } from '../src/stack-chart';
import { InferenceMonitoringSpecInput } from '../src/api/spec-input';

const spec = (i: number): InferenceMonitoringSpecInput => ({ models: [{ name: `model-${i}`, model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' }] });
const stackName = (i: number) => `stack-${i}`;

interface Sample { ms: number; maxRssMiB: number; heapMiB: number; objects: number; bytes: number }

type Mode = 'ours' | 'floor' | 'ours-render' | 'floor-render';

/** Child mode: one measurement, printed as JSON. */
function measure(mode: Mode, n: number, floorInput?: string): Sample {
  const input = floorInput ? JSON.parse(fs.readFileSync(floorInput, 'utf8')) as any[][] : undefined;
  const rssBefore = process.resourceUsage().maxRSS;
  const start = process.hrtime.bigint();
  if (mode === 'ours-render' || mode === 'floor-render') {
    // The render/controller path: one App per stack (cdk8s resolves dependencies app-wide per chart).
    const docs: unknown[] = [];
    for (let i = 0; i < n; i++) {
      if (mode === 'ours-render') docs.push(...renderManifests({ name: stackName(i), namespace: 'llm', spec: spec(i) }));
      else {
        const chart = new Chart(new App({ outdir: os.tmpdir() }), stackName(i), { disableResourceNameHashes: true });
        input![i].forEach((m, j) => new ApiObject(chart, `o${j}`, m));
        docs.push(...chart.toJson());
      }
    }
    const text = Yaml.stringify(...docs);
    const t = Number(process.hrtime.bigint() - start) / 1e6;
    return { ms: t, maxRssMiB: Math.max(process.resourceUsage().maxRSS, rssBefore) / 1024, heapMiB: process.memoryUsage().heapUsed / 2 ** 20, objects: (text.match(/^kind: /gm) ?? []).length, bytes: text.length };
  }
  const app = new App({ outdir: os.tmpdir() });
  for (let i = 0; i < n; i++) {
    if (mode === 'ours') {
      const chart = new StackChart(app, stackName(i), { namespace: 'llm' });
      addStack(chart, 'stack', { name: stackName(i), namespace: 'llm', spec: spec(i) });
    } else {
      const chart = new Chart(app, stackName(i), { disableResourceNameHashes: true });
      input![i].forEach((m, j) => new ApiObject(chart, `o${j}`, m));
    }
  }
  const yaml = app.synthYaml();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const objects = (yaml.match(/^kind: /gm) ?? []).length;
  return { ms, maxRssMiB: Math.max(process.resourceUsage().maxRSS, rssBefore) / 1024, heapMiB: process.memoryUsage().heapUsed / 2 ** 20, objects, bytes: yaml.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(measure(args[1] as Mode, Number(args[2]), args[3])));
    return;
  }
  const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
  const sizes = opt('sizes', '1,10,50,200').split(',').map(Number);
  const reps = Number(opt('reps', '5'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  const rows: Array<{ n: number; path: string; ours: Sample; floor: Sample }> = [];
  for (const n of sizes) {
    // The floor's content: exactly our manifests, computed here, outside the timed child.
    const input = path.join(tmp, `floor-${n}.json`);
    fs.writeFileSync(input, JSON.stringify(Array.from({ length: n }, (_, i) => renderManifests({ name: stackName(i), namespace: 'llm', spec: spec(i) }))));
    const child = (mode: string): Sample => JSON.parse(execFileSync(process.execPath, [__filename, '--child', mode, String(n), input], { encoding: 'utf8', maxBuffer: 1 << 26 }));
    const summary = (samples: Sample[]): Sample => ({ ms: median(samples.map((s) => s.ms)), maxRssMiB: median(samples.map((s) => s.maxRssMiB)), heapMiB: median(samples.map((s) => s.heapMiB)), objects: samples[0].objects, bytes: samples[0].bytes });
    for (const [path, o, f] of [['cdk8s synth (one App, N charts)', 'ours', 'floor'], ['render/controller (one App per stack)', 'ours-render', 'floor-render']]) {
      // Ours and the floor alternate, so a slower spell of a shared machine hits both.
      const ourSamples: Sample[] = [];
      const floorSamples: Sample[] = [];
      for (let r = 0; r < reps; r++) {
        ourSamples.push(child(o));
        floorSamples.push(child(f));
      }
      const ours = summary(ourSamples);
      const floor = summary(floorSamples);
      if (ours.objects !== floor.objects || ours.bytes !== floor.bytes) throw new Error(`n=${n} ${path}: ours and the floor differ (${ours.objects}/${floor.objects} objects, ${ours.bytes}/${floor.bytes} bytes)`);
      rows.push({ n, path, ours, floor });
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });

  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`synth benchmark — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, median of ${reps}`);
  console.log('| path | stacks | objects | YAML | ours ms | floor ms | time ratio | ours peak RSS MiB | floor peak RSS MiB | RSS ratio |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.path} | ${r.n} | ${r.ours.objects} | ${f(r.ours.bytes / 1024)} KiB | ${f(r.ours.ms)} | ${f(r.floor.ms)} | ${f(r.ours.ms / r.floor.ms, 2)}× | ${f(r.ours.maxRssMiB)} | ${f(r.floor.maxRssMiB)} | ${f(r.ours.maxRssMiB / r.floor.maxRssMiB, 2)}× |`);
  }
  for (const path of [...new Set(rows.map((r) => r.path))]) {
    const at = (n: number) => rows.find((r) => r.n === n && r.path === path);
    if (at(50) && at(200)) console.log(`${path}: 200 stacks take ${f(at(200)!.ours.ms / at(50)!.ours.ms, 2)}× the time of 50 (linear = 4×; target ≤ 4.5×)`);
    if (at(50)) console.log(`${path}: at 50 stacks ${f(at(50)!.ours.ms / at(50)!.floor.ms, 2)}× the floor (target ≤ 2×)`);
  }
}

main();
