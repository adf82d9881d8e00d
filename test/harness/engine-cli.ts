/**
 * The engines' command lines as their own parsers see them: the catalogs recorded from each
 * release's code (test/fixtures/engine-cli/<engine>-<version>.json, tools/engine-cli/record.py)
 * and the stand-in's re-implementation of argparse, click and clap over them
 * (tools/images/standin/cli.go), the same code that refuses a command line in a pod.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { EngineName } from '../../src/engines/profile';
import { REPO } from './binaries';

export const ENGINE_CLI_FIXTURES = path.join(REPO, 'test', 'fixtures', 'engine-cli');

export interface CliOption { readonly flags: string[]; readonly dest: string; readonly nargs: number | string; readonly type: string | null; readonly choices: string[] | null; readonly required: boolean; readonly default: unknown; readonly env: string | null }
export interface CliProgram { readonly argv: string[]; readonly parser: 'argparse' | 'click' | 'clap'; readonly options: CliOption[]; readonly positionals: Array<{ dest: string; nargs: number | string; required: boolean }> }
export interface CliRoute { readonly path: string; readonly methods?: string[]; readonly source?: string; readonly note?: string }
export interface SelfCheck { readonly argv: string[]; readonly accepted: boolean; readonly error?: string; readonly program?: string }
export interface CliCatalog {
  readonly engine: EngineName;
  readonly version: string;
  readonly file: string;
  readonly programs: Record<string, CliProgram>;
  readonly routes: CliRoute[];
  readonly provenance: { readonly selfCheck?: unknown; readonly [k: string]: unknown };
}

/** Catalog files are named after the profile's engine: tgi-3.3.6.json, vllm-0.33.0.json. */
export function cliCatalogs(): CliCatalog[] {
  if (!fs.existsSync(ENGINE_CLI_FIXTURES)) return [];
  return fs.readdirSync(ENGINE_CLI_FIXTURES).filter((f) => /^[a-z]+-\d.*\.json$/.test(f)).sort().map((f) => {
    const file = path.join(ENGINE_CLI_FIXTURES, f);
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    return { ...doc, engine: /^([a-z]+)-/.exec(f)![1] as EngineName, file };
  });
}

/** The stand-in binary, built (cached by the hash of its sources) by tools/build-images.sh --binaries. */
let standin: string | undefined;
export function standinBinary(): string {
  if (standin) return standin;
  const out = execFileSync('bash', [path.join(REPO, 'tools', 'build-images.sh'), '--binaries'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  standin = path.join(out.trim().split('\n').pop()!, 'engine-standin');
  return standin;
}

export interface CheckRequest { readonly catalog: string; readonly argv: readonly string[]; readonly env?: Record<string, string> }
export interface CheckResult { readonly accepted: boolean; readonly exitCode: number; readonly message: string }

/** Each command line parsed by the stand-in's parser for its catalog, in one process. */
export function checkCommandLines(requests: readonly CheckRequest[]): CheckResult[] {
  if (requests.length === 0) return [];
  const out = execFileSync(standinBinary(), ['check'], { input: requests.map((r) => JSON.stringify({ env: {}, ...r })).join('\n') + '\n', encoding: 'utf8' });
  const results = out.trim().split('\n').map((l) => JSON.parse(l) as CheckResult);
  if (results.length !== requests.length) throw new Error(`stand-in check answered ${results.length} of ${requests.length} command lines`);
  return results;
}

/**
 * The process a container runs, as the engine sees its argv: Kubernetes' `$$` unescaped, and
 * the launchers that exec their arguments (opentelemetry-instrument) taken off.
 */
export function engineArgv(container: { command?: string[]; args?: string[] }): string[] {
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) => a.replace(/\$\$/g, '$'));
  while (argv[0] === 'opentelemetry-instrument') argv.shift();
  return argv;
}
