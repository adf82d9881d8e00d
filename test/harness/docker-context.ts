/**
 * The build context `docker build .` sends, computed as Docker computes it from `.dockerignore`
 * (@balena/dockerignore: Docker's pattern matching, `!` exceptions, last match wins), and the COPY
 * sources a Dockerfile reads from that context. No Docker daemon needed.
 */
import * as fs from 'fs';
import * as path from 'path';
import ignore from '@balena/dockerignore';

export interface BuildContext {
  /** Files sent, relative to the context directory, with `/` separators. */
  files: string[];
  /** Their total size in bytes. */
  bytes: number;
}

/** The files `docker build` sends from `dir` (the Dockerfile and .dockerignore are always sent; counted here only if not ignored). */
export function buildContext(dir: string): BuildContext {
  const rules = fs.existsSync(path.join(dir, '.dockerignore')) ? fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8') : '';
  const ig = ignore().add(rules);
  // Exceptions (`!pattern`) can bring back files below an ignored directory: Docker then walks into it.
  const exceptions = rules.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/^\/+/, ''));
  const mayHoldException = (rel: string) => exceptions.some((e) => e.startsWith(`${rel}/`) || /^[*?[]/.test(e) || e.startsWith('**'));
  const files: string[] = [];
  let bytes = 0;
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      const ignored = ig.ignores(child);
      if (entry.isDirectory()) {
        if (!ignored || mayHoldException(child)) walk(child);
      } else if (!ignored) {
        files.push(child);
        bytes += fs.lstatSync(path.join(dir, child)).size;
      }
    }
  };
  walk('');
  return { files: files.sort(), bytes };
}

/** The sources of every `COPY`/`ADD` that reads the build context (not `--from=<stage>`), as written. */
export function contextCopySources(dockerfile: string): string[] {
  const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const sources: string[] = [];
  for (const line of instructions) {
    const m = /^(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    const args = m[2].split(/\s+/);
    if (args.some((a) => a.startsWith('--from='))) continue;
    const operands = args.filter((a) => !a.startsWith('--'));
    sources.push(...operands.slice(0, -1));
  }
  return sources;
}
