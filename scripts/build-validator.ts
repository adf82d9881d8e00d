/**
 * Run by `npm run build` (postbuild, before the CLI bundle): writes the spec
 * validator as ajv standalone code to lib/src/api/spec-validator.js, which
 * src/api/validate.ts loads instead of compiling the schema in every process
 * (BENCHMARKS.md, "CLI start-up"). Not committed: it is built from the schema.
 */
import * as fs from 'fs';
import * as path from 'path';
import { standaloneValidatorSource } from '../src/api/validate';

const out = path.join(__dirname, '..', 'src', 'api', 'spec-validator.js');
const start = Date.now();
fs.writeFileSync(out, standaloneValidatorSource());
process.stderr.write(`build-validator: ${path.relative(process.cwd(), out)} (${(fs.statSync(out).size / 1024).toFixed(0)} KiB), ${Date.now() - start} ms\n`);
