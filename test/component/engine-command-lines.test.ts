/**
 * Every command line we render, for every engine release whose command-line surface was recorded
 * from its own parser (test/fixtures/engine-cli/, tools/engine-cli/record.py), parses the way that
 * release's parser parses it: through the stand-in's re-implementation of argparse, click and clap
 * over the catalog (tools/images/standin/cli.go), the same check that refuses a command line in a
 * pod. A version the plan refuses is refused at admission with a reason, which is also an answer;
 * a version the plan accepts must start.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { EngineName, versionSatisfies } from '../../src/engines/profile';
import { PROFILES } from '../../src/engines/registry';
import { ENGINE_NAMES } from '../../src/engines/engine-ids';
import { planStack } from '../../src/plan/plan';
import { renderManifests } from '../../src/render';
import { checkCommandLines, CheckRequest, cliCatalogs, engineArgv } from '../harness/engine-cli';
import { SPEC_VARIANTS } from '../harness/spec-variants';
import { REPO } from '../harness/binaries';

const catalogs = cliCatalogs();

/** One model per engine in each shape the profiles start differently. */
function modelVariants(engine: EngineName): Array<[string, Record<string, unknown>]> {
  const profile = PROFILES[engine];
  const gpu = profile.requiresGpu ? { count: 1 } : { count: 0 };
  const dpGpus = profile.gpuLayout === 'max' ? { gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } } : { gpu: { count: 2 }, parallelism: { data: 2 } };
  const variants: Array<[string, Record<string, unknown>]> = [
    ['single', { gpu }],
    ['tensor 2', profile.requiresGpu ? { gpu: { count: 2 }, parallelism: { tensor: 2 } } : { gpu }],
    ['data 2', dpGpus],
  ];
  // The spec variants the other suites use, for this engine's models.
  for (const [key, spec] of Object.entries(SPEC_VARIANTS)) {
    for (const m of (spec.models as Array<Record<string, unknown>> | undefined) ?? []) {
      if (m.engine === engine) variants.push([`${key}: ${String(m.name)}`, { ...m, name: undefined, model: undefined, engine: undefined }]);
    }
  }
  return variants;
}

interface Case { engine: EngineName; version: string; variant: string; tracing: boolean; spec: Record<string, unknown> }

const cases: Case[] = catalogs.flatMap((c) => modelVariants(c.engine).flatMap(([variant, shape]) => [true, false].map((tracing) => ({
  engine: c.engine, version: c.version, variant, tracing,
  spec: {
    models: [{ ...Object.fromEntries(Object.entries(shape).filter(([, v]) => v !== undefined)), name: 'm', model: 'org/model-7b', engine: c.engine, engineVersion: c.version }],
    tracing: { enabled: tracing },
    // Only the model's Deployment is read: the rest of the stack off keeps 400 renders quick.
    alerts: { enabled: false }, gpuMetrics: { enabled: false }, grafana: { enabled: false },
  },
}))));

interface Outcome { refusedAtAdmission?: string[]; lines?: Array<{ container: string; argv: string[]; env: Record<string, string> }> }

function render(c: Case): Outcome {
  const input = { name: 'cli', namespace: 'llm', spec: c.spec };
  const planned = planStack(input);
  if (!planned.ok) return { refusedAtAdmission: planned.errors.map((e) => `${e.path}: ${e.message}`) };
  type Container = { name: string; command?: string[]; args?: string[]; env?: Array<{ name: string; value?: string }> };
  const manifests = renderManifests(input).filter((m) => (m.metadata as { name: string }).name === 'cli-m');
  // A Deployment's pod, or each role of a LeaderWorkerSet with the variables LeaderWorkerSet injects, expanded as
  // the kubelet expands `$(VAR)` (not `$$(VAR)`, its escape): the leader is worker 0, a worker 1.
  const pods: Array<{ role: string; containers: Container[]; vars: Record<string, string> }> = manifests.flatMap((mf: any) => {
    if (mf.kind === 'Deployment') return [{ role: '', containers: mf.spec.template.spec.containers, vars: {} }];
    if (mf.kind !== 'LeaderWorkerSet') return [];
    const t = mf.spec.leaderWorkerTemplate;
    const vars = (index: number) => ({ LWS_LEADER_ADDRESS: 'cli-m-0.cli-m.llm', LWS_GROUP_SIZE: String(t.size), LWS_WORKER_INDEX: String(index) });
    return [{ role: 'leader ', containers: t.leaderTemplate.spec.containers, vars: vars(0) }, { role: 'worker ', containers: t.workerTemplate.spec.containers, vars: vars(1) }];
  });
  const expand = (v: string, vars: Record<string, string>) => v.replace(/(?<!\$)\$\((LWS_[A-Z_]+)\)/g, (whole, name) => vars[name] ?? whole);
  return {
    lines: pods.flatMap((p) => p.containers.map((k) => ({
      container: `${p.role}${k.name}`,
      argv: engineArgv({ command: k.command, args: k.args?.map((a) => expand(a, p.vars)) }),
      env: Object.fromEntries((k.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, expand(e.value!, p.vars)])),
    }))),
  };
}

test('every engine has recorded command lines of its minimum and default versions', () => {
  for (const engine of ENGINE_NAMES) {
    const versions = catalogs.filter((c) => c.engine === engine).map((c) => c.version);
    expect({ engine, versions: versions.includes(PROFILES[engine].defaultVersion) }).toEqual({ engine, versions: true });
    expect({ engine, min: versions.some((v) => versionSatisfies(v, `<=${PROFILES[engine].minimumVersion}`) || v === PROFILES[engine].minimumVersion) }).toEqual({ engine, min: true });
  }
});

describe.each(catalogs.map((c) => [`${c.engine} ${c.version}`, c] as const))('%s', (_name, catalog) => {
  const mine = cases.filter((c) => c.engine === catalog.engine && c.version === catalog.version);
  const rendered = mine.map((c) => ({ c, out: render(c) }));
  const requests: Array<CheckRequest & { label: string }> = rendered.flatMap(({ c, out }) => (out.lines ?? []).map((l) => ({
    label: `${c.variant}${c.tracing ? ', tracing' : ''} [${l.container}]`, catalog: catalog.file, argv: l.argv, env: l.env,
  })));

  test('every command line we render starts: its recorded parser accepts it', () => {
    const results = checkCommandLines(requests);
    const refused = requests.map((r, i) => ({ r, res: results[i] })).filter((x) => !x.res.accepted)
      .map((x) => `${x.r.label}: ${x.r.argv.join(' ')}\n  -> exit ${x.res.exitCode}: ${x.res.message}`);
    expect(refused).toEqual([]);
  });

  test('a version or shape the plan refuses is refused with a field path and a reason', () => {
    for (const { out } of rendered) {
      for (const e of out.refusedAtAdmission ?? []) expect(e).toMatch(/^spec\.[\w.[\]]+: \w[^:]*: .{20,}/);
    }
  });
});

/**
 * The re-implemented parsers against the real ones: each catalog carries the verdicts its release's
 * own parser gave on command lines (provenance.selfCheck, recorded by running that parser), and the
 * stand-in's parser must reach the same verdict on each.
 */
const selfChecks = catalogs.flatMap((c) => {
  // One verdict, a list of them, or verdicts by name; argv with or without the program's words.
  type Verdict = { argv: string[]; accepted: boolean; program?: string; stderr?: string; exitCode?: number };
  const raw = c.provenance.selfCheck as Verdict | Verdict[] | Record<string, Verdict> | undefined;
  const named: Array<[string, Verdict]> = !raw ? [] : Array.isArray(raw) ? raw.map((v, i) => [`#${i}`, v])
    : 'argv' in raw && Array.isArray((raw as Verdict).argv) ? [['#0', raw as Verdict]]
      : Object.entries(raw as Record<string, Verdict>).filter(([, v]) => v && Array.isArray(v.argv) && typeof v.accepted === 'boolean');
  return named.map(([key, s]) => {
    const programs = Object.entries(c.programs);
    const [, program] = programs.find(([k]) => k === s.program) ?? programs.find(([, p]) => p.argv.every((w, i) => s.argv[i] === w)) ?? programs[0];
    const argv = program.argv.every((w, i) => s.argv[i] === w) ? s.argv : [...program.argv, ...s.argv];
    // A crash of the engine's own pre-processing (vLLM's --config reader, its negative-number handling): a
    // traceback and exit 1, not a usage error of its parser; not modelled, and kept away from our flags below.
    const crashed = !s.accepted && s.exitCode === 1 && /Traceback/.test(s.stderr ?? '');
    return { name: `${c.engine} ${c.version} ${key} (${s.accepted ? 'accepted' : 'refused'})`, engine: c.engine, catalog: c.file, argv, accepted: s.accepted, crashed, programWords: program.argv.length };
  });
});
const modelled = selfChecks.filter((s) => !s.crashed);

test('the recorded catalogs carry verdicts of the engines\' own parsers', () => {
  expect(selfChecks.length).toBeGreaterThanOrEqual(catalogs.length);
});

test('probes on which the engine\'s own code crashed (not a parser verdict) touch no option we generate', () => {
  const ours = new Set(cases.flatMap((c) => render(c).lines ?? []).flatMap((l) => l.argv.filter((w) => w.startsWith('-'))));
  const crashes = selfChecks.filter((s) => s.crashed);
  for (const s of crashes) {
    const flags = s.argv.slice(s.programWords).filter((w) => w.startsWith('-')).map((w) => w.split('=')[0]);
    expect({ probe: s.name, ours: flags.filter((f) => ours.has(f)) }).toEqual({ probe: s.name, ours: [] });
  }
  expect(crashes.length).toBeLessThan(selfChecks.length / 50);
});

test.each(modelled.map((s) => [s.name, s]))('%s: the stand-in parser agrees with the engine\'s own', (_n, s) => {
  const [res] = checkCommandLines([{ catalog: s.catalog, argv: s.argv }]);
  expect({ argv: s.argv.join(' '), accepted: res.accepted, message: res.accepted === s.accepted ? undefined : res.message })
    .toEqual({ argv: s.argv.join(' '), accepted: s.accepted, message: undefined });
});

test('the stand-in parser\'s own unit tests pass (go test: argparse, click and clap rules on small programs)', () => {
  const env = { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-buildvcs=false' };
  execFileSync('go', ['test', '-vet=off', './...'], { cwd: path.join(REPO, 'tools', 'images', 'standin'), env, stdio: 'pipe', timeout: 300_000 });
}, 300_000);
