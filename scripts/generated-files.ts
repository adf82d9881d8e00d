import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { buildApp } from '../charts/main';
import { CRD_NAME, inferenceMonitoringCrd } from '../src/api/crd';
import { BENCHMARK_SCHEMA_SQL } from '../src/benchmarks/schema';
import { dashboardDocs } from './dashboard-docs';
import { specReference } from './spec-reference';
import { helmChartFiles } from './helm-chart';

/** The library's input type, generated from the schema by scripts/spec-input-types.ts (asynchronously: see generate.ts). */
export const SPEC_INPUT_FILE = 'src/api/spec-input.ts';

/** Every generated file as `[path relative to the repository, content]`, in a stable order. */
/** The repository root, from source (scripts/) or compiled (lib/scripts/). */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above scripts/');
    dir = up;
  }
  return dir;
}

/** argocd-cm entry carrying the Lua health check (gitops/argocd/health/health.lua is the source). */
function argocdHealthCustomization(): string {
  const lua = fs.readFileSync(path.join(repoRoot(), 'gitops', 'argocd', 'health', 'health.lua'), 'utf8');
  return Yaml.stringify({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'argocd-cm', namespace: 'argocd', labels: { 'app.kubernetes.io/part-of': 'argocd' } },
    data: { 'resource.customizations.health.monitoring.inference.dev_InferenceMonitoring': lua },
  });
}

export function generatedFiles(): Array<[string, string]> {
  const files: Array<[string, string]> = [
    [`crds/${CRD_NAME}.yaml`, Yaml.stringify(inferenceMonitoringCrd())],
    ['sql/benchmarks.sql', BENCHMARK_SCHEMA_SQL],
    ['docs/dashboards.md', dashboardDocs()],
    ['docs/spec-reference.md', specReference()],
    ['gitops/argocd/argocd-cm-health.yaml', argocdHealthCustomization()],
  ];
  const version = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')).version as string;
  files.push(...helmChartFiles(version));
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
