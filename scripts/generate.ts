/**
 * Regenerates every generated file from the code: `crds/` and `dist/`.
 * `npm run synth` runs it; the reproducibility test compares its output with the committed files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildApp } from '../charts/main';
import { SPEC_INPUT_FILE, generatedFiles, repoRoot } from './generated-files';
import { specInputSource } from './spec-input-types';
import { HELM_CHART_DIR } from './helm-chart';

export async function writeGenerated(root: string): Promise<Array<[string, string]>> {
  // Whole directories that only hold generated files; single generated files elsewhere.
  for (const dir of ['crds', 'dist', 'sql', HELM_CHART_DIR]) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
  for (const file of ['docs/dashboards.md', 'docs/spec-reference.md', 'gitops/argocd/argocd-cm-health.yaml']) fs.rmSync(path.join(root, file), { force: true });
  const files: Array<[string, string]> = [[SPEC_INPUT_FILE, await specInputSource()], ...generatedFiles()];
  for (const [rel, content] of files) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return files;
}

if (require.main === module) {
  writeGenerated(repoRoot()).then((files) => {
    for (const [rel] of files) console.log(`wrote ${rel}`);
  }, (e) => { console.error(e); process.exit(1); });
}

export { buildApp };
