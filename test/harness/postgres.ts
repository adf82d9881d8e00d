/**
 * A real PostgreSQL server (Debian's package) in a temp dir on a loopback
 * port, for the benchmark schema, loader and dashboard SQL tests.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { freePort } from './control-plane';

export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
}

export function havePostgres(): boolean {
  const ok = postgresBinDir() !== undefined;
  if (!ok && process.env.CI) throw new Error('PostgreSQL server binaries missing: run tools/setup.sh');
  return ok;
}

export interface RunningPostgres { readonly url: string; connect(): Promise<Client>; stop(): void }

/** initdb refuses to run as root: when root, the server runs as the `postgres` user. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = postgresBinDir()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-pg-'));
  const user = runAs();
  if (user.uid !== undefined) fs.chownSync(dir, user.uid, user.gid!);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(path.join(bin, cmd), args, { ...user, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', `${dir}/data`, '-U', 'bench', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  run('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const url = `postgres://bench@127.0.0.1:${port}/postgres`;
  return {
    url,
    async connect() { const c = new Client({ connectionString: url }); await c.connect(); return c; },
    stop() {
      spawnSync(path.join(bin, 'pg_ctl'), ['-D', `${dir}/data`, '-m', 'fast', 'stop'], { ...user });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
