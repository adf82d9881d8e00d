import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { buildApp } from '../charts/main';
import { CRD_NAME, inferenceMonitoringCrd } from '../src/spec/crd';
import { BENCHMARK_SCHEMA_SQL } from '../src/benchmarks/schema';
import { dashboardDocs } from './dashboard-docs';

/** Every generated file as `[path relative to the repository, content]`, in a stable order. */
export function generatedFiles(): Array<[string, string]> {
  const files: Array<[string, string]> = [
    [`crds/${CRD_NAME}.yaml`, Yaml.stringify(inferenceMonitoringCrd())],
    ['sql/benchmarks.sql', BENCHMARK_SCHEMA_SQL],
    ['docs/dashboards.md', dashboardDocs()],
  ];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-synth-'));
  try {
    buildApp(tmp).synth();
    for (const name of fs.readdirSync(tmp).sort()) {
      files.push([`dist/${name}`, fs.readFileSync(path.join(tmp, name), 'utf8')]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return files;
}
