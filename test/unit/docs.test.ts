/**
 * README.md and docs/*.md stay true to the code: every ```ts block that imports the package compiles under
 * --strict against the package's types (as test/unit/compile-time.test.ts compiles README's), every
 * InferenceMonitoring document in a ```yaml block or a `kubectl apply -f - <<'YAML'` heredoc renders through the
 * CLI's render path, and every relative link points to a file that exists (and its anchor to a heading there).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { planStack } from '../../src/plan/plan';
import { stackInputFromResource } from '../../src/render';

const REPO = path.resolve(__dirname, '..', '..');

/** README.md and every Markdown file under docs/ (runbooks included), relative to the repository. */
export function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

const read = (rel: string) => fs.readFileSync(path.join(REPO, rel), 'utf8');

/** Fenced blocks of one language: ```<lang> … ```. */
function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((m) => m[1]);
}

/** YAML documents of ```yaml blocks and of `<<'YAML'` heredocs in ```bash blocks. */
function yamlTexts(text: string): string[] {
  const heredocs = blocks(text, 'bash').flatMap((b) => [...b.matchAll(/<<'?YAML'?\n([\s\S]*?)^YAML$/gm)].map((m) => m[1]));
  return [...blocks(text, 'yaml'), ...heredocs];
}

/** Relative link targets `[text](target)`, outside code blocks and code spans. */
export function relativeLinks(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} +(.*)$/gm)) {
    const slug = m[1].replace(/`/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** What is wrong with the relative links of one file: a missing target file, or an anchor its target lacks. */
export function brokenLinks(rel: string, text: string, readFile = (file: string) => fs.readFileSync(file, 'utf8')): string[] {
  return relativeLinks(text).flatMap((target) => {
    const [file, anchor] = target.split('#', 2);
    const abs = file ? path.resolve(REPO, path.dirname(rel), decodeURIComponent(file)) : path.resolve(REPO, rel);
    if (!fs.existsSync(abs)) return [`${rel}: ${target}: no such file`];
    if (anchor === undefined) return [];
    const page = file ? readFile(abs) : text;
    return anchors(page).has(anchor) ? [] : [`${rel}: ${target}: no such heading`];
  });
}

const files = markdownFiles();

describe('README.md and docs/', () => {
  test('the pages exist and README stays short (under 12 KB)', () => {
    for (const page of ['getting-started', 'kube-prometheus-stack', 'controller', 'engines', 'dashboards', 'dashboards-guide', 'alerts', 'security', 'testing', 'benchmarks', 'troubleshooting', 'spec-reference']) {
      expect(files).toContain(`docs/${page}.md`);
    }
    expect(Buffer.byteLength(read('README.md'))).toBeLessThan(12 * 1024);
  });

  test('every relative link points to an existing file', () => {
    expect(files.flatMap((f) => brokenLinks(f, read(f)))).toEqual([]);
  });

  test('the link check finds a missing file and a missing heading', () => {
    const text = '## A `code` heading, here\n\nSee [a](docs/controller.md), [b](docs/no-such-page.md), [c](docs/controller.md#uninstall), [d](docs/controller.md#no-such), '
      + '[e](#a-code-heading-here), [f](#nope), [g](https://example.com/x.md) and `[h](nope.md)`.';
    expect(brokenLinks('README.md', text)).toEqual([
      'README.md: docs/no-such-page.md: no such file',
      'README.md: docs/controller.md#no-such: no such heading',
      'README.md: #nope: no such heading',
    ]);
    expect(brokenLinks('docs/x.md', '[up](../README.md) [runbook](runbooks/InferenceTargetDown.md)')).toEqual([]);
  });

  test('every InferenceMonitoring document in a yaml block or heredoc renders', () => {
    const found: Array<{ file: string; name: string; errors: unknown }> = [];
    for (const file of files) {
      for (const text of yamlTexts(read(file))) {
        for (const doc of parseAllDocuments(text)) {
          const obj = doc.toJSON() as { kind?: string; metadata?: { name?: string } } | null;
          if (obj?.kind !== 'InferenceMonitoring') continue;
          const input = stackInputFromResource(obj);
          const planned = input.ok ? planStack(input.value) : input;
          found.push({ file, name: obj.metadata?.name ?? '', errors: planned.ok ? [] : planned.errors });
        }
      }
    }
    expect(found.length).toBeGreaterThanOrEqual(3);
    expect(found.filter((f) => (f.errors as unknown[]).length > 0)).toEqual([]);
  });

  test('every ```ts block that imports the package compiles under --strict', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-docs-'));
    try {
      const examples = files.flatMap((f) => blocks(read(f), 'ts').filter((code) => code.includes("from 'cdk8s-inference-monitoring'")).map((code, i) => {
        const file = path.join(tmp, `${f.replace(/[/.]/g, '_')}-${i}.ts`);
        fs.writeFileSync(file, code);
        return file;
      }));
      expect(examples.length).toBeGreaterThanOrEqual(2);
      const program = ts.createProgram(examples, {
        strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
        moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true, skipLibCheck: true,
        baseUrl: REPO, paths: { 'cdk8s-inference-monitoring': ['src/index.ts'], '*': ['node_modules/*'] },
      });
      const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.file && examples.includes(path.resolve(d.file.fileName)))
        .map((d) => `${path.basename(d.file!.fileName)}:${d.file!.getLineAndCharacterOfPosition(d.start!).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
      expect(errors).toEqual([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
