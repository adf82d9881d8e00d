#!/usr/bin/env node
// A reader that stops early (`render ... | head -1`) closes the pipe: that ends the output, it is not an error.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
const argv = process.argv.slice(2);
// loadMain: the one-file bundle `npm run build` writes, when it is as fresh as lib/ (lib/src/cli/bundle-loader.js).
const { loadMain, isLongRunning } = require('../lib/src/cli/bundle-loader.js');
loadMain(argv)(argv).then((code) => {
  process.exitCode = code;
  // A one-shot command exits once its output is written (the callbacks run after what was written
  // before them), not after V8's pending background work (GC, compile jobs): that was 30-60 ms of each
  // `render`. The controller ends as before.
  if (!isLongRunning(argv)) process.stdout.write('', () => process.stderr.write('', () => process.exit()));
});
