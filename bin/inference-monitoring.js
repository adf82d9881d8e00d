#!/usr/bin/env node
// A reader that stops early (`render ... | head -1`) closes the pipe: that ends the output, it is not an error.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else writeFailed(e); });
// Any other write error (`> /dev/full`: ENOSPC, a closed descriptor, EIO) is one line and exit code 1, not a stack trace.
function writeFailed(e) {
  try { require('fs').writeSync(2, `error: writing the output: ${e.code ? `${e.code}: ` : ''}${String(e.message).replace(/^[A-Z]+: /, '')}\n`); } catch { /* stderr gone too */ }
  process.exit(1);
}
const argv = process.argv.slice(2);
// loadMain: the one-file bundle `npm run build` writes, when it is as fresh as lib/ (lib/src/cli/bundle-loader.js).
const { loadMain, isLongRunning } = require('../lib/src/cli/bundle-loader.js');
loadMain(argv)(argv).then((code) => {
  process.exitCode = code;
  // A one-shot command exits once its output is written (the callbacks run after what was written
  // before them), not after V8's pending background work (GC, compile jobs): that was 30-60 ms of each
  // `render`. The controller ends as before, unless it failed to start.
  if (!isLongRunning(argv) || code !== 0) process.stdout.write('', (e) => {
    // A write that failed before this callback (its 'error' event may not have been emitted yet) fails the command.
    const failed = process.stdout.errored ?? e;
    if (failed && failed.code !== 'EPIPE') return writeFailed(failed);
    process.stderr.write('', () => process.exit());
  });
});
