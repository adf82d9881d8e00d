/**
 * Regenerates every generated file from the code: `crds/` and `dist/`.
 * `npm run synth` runs it; the reproducibility test compares its output with the committed files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildApp } from '../charts/main';
import { generatedFiles, repoRoot } from './generated-files';

export function writeGenerated(root: string): void {
  // Whole directories that only hold generated files; single generated files elsewhere.
  for (const dir of ['crds', 'dist', 'sql']) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
  for (const file of ['docs/dashboards.md', 'gitops/argocd/argocd-cm-health.yaml']) fs.rmSync(path.join(root, file), { force: true });
  for (const [rel, content] of generatedFiles()) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

if (require.main === module) {
  const root = repoRoot();
  writeGenerated(root);
  for (const [rel] of generatedFiles()) console.log(`wrote ${rel}`);
}

export { buildApp };
