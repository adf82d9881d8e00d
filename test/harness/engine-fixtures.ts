/** The recorded engine releases in test/fixtures/engines/ (tools/engine-metrics/record.py writes them). */
import * as fs from 'fs';
import * as path from 'path';
import { EngineName } from '../../src/engines/profile';

export const ENGINE_FIXTURES = path.join(__dirname, '..', 'fixtures', 'engines');

export interface CatalogEntry { readonly name: string; readonly type: string; readonly labels: readonly string[]; readonly buckets?: readonly number[] }

export interface Recording { readonly engine: EngineName; readonly version: string; readonly dir: string; readonly name: string; readonly catalog: CatalogEntry[] }

/** Every `<engine>-<version>/` with a catalog.json, sorted. */
export function recordings(): Recording[] {
  return fs.readdirSync(ENGINE_FIXTURES).filter((d) => fs.existsSync(path.join(ENGINE_FIXTURES, d, 'catalog.json'))).sort().map((d) => {
    const [, engine, version] = /^([a-z]+)-(.+)$/.exec(d)!;
    const dir = path.join(ENGINE_FIXTURES, d);
    return { engine: engine as EngineName, version, dir, name: d, catalog: JSON.parse(fs.readFileSync(path.join(dir, 'catalog.json'), 'utf8')) };
  });
}

/** Recordings with a `/metrics` exposition (transformers pushes OTLP: its recording is a catalog only). */
export function scrapedRecordings(): Recording[] {
  return recordings().filter((r) => fs.readdirSync(r.dir).some((f) => /^[a-z]+(-rank\d+)?\.prom$/.test(f)));
}
