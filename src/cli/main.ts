/**
 * The `inference-monitoring` command line. Commands are thin wrappers over
 * the library; more arrive with the GitOps and controller work.
 */
import { Command, CommanderError } from 'commander';
import * as fs from 'fs';
import { parseAllDocuments } from 'yaml';
import { Yaml } from 'cdk8s';
import { renderManifests, stackInputFromResource } from '../render';
import { SpecValidationError } from '../spec/validate';

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const program = new Command('inference-monitoring')
    .description('Render InferenceMonitoring resources into Kubernetes manifests')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) });
  let code = 0;
  program.command('render')
    .description('validate InferenceMonitoring documents and print the manifests the controller would apply')
    .requiredOption('-f, --file <file>', 'YAML file with one or more InferenceMonitoring documents, or - for stdin')
    .action((opts: { file: string }) => {
      const text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
      const manifests: unknown[] = [];
      const docs = parseAllDocuments(text);
      for (const [i, doc] of docs.entries()) {
        if (doc.errors.length) throw new SpecValidationError([{ path: `document ${i}`, message: doc.errors[0].message }], opts.file);
        const input = stackInputFromResource(doc.toJSON());
        if (!input.ok) throw new SpecValidationError(input.errors, `document ${i} of ${opts.file}`);
        manifests.push(...renderManifests(input.value));
      }
      out.write(Yaml.stringify(...manifests));
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    err.write(`error: ${(e as Error).message}\n`);
    code = 1;
  }
  return code;
}
