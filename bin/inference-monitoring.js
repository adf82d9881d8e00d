#!/usr/bin/env node
// A reader that stops early (`render ... | head -1`) closes the pipe: that ends the output, it is not an error.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
require('../lib/src/cli/main.js').main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
