/**
 * Two projects over the same tests: the real MariaDB + Redis (production path) and the embedded default
 * (SQLite, in-process queue). tests/smoke starts the built gateway as a newcomer would and runs once.
 */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
};
module.exports = {
  maxWorkers: 2,
  testTimeout: 30000,
  projects: [
    // tests/console drives a browser against the embedded gateway: it runs in the embedded project only.
    { ...base, displayName: 'mysql+redis', testMatch: ['<rootDir>/tests/**/*.test.ts'], testPathIgnorePatterns: ['/tests/smoke/', '/tests/console/'] },
    {
      ...base,
      displayName: 'embedded',
      testMatch: ['<rootDir>/tests/**/*.test.ts'],
      testPathIgnorePatterns: ['/tests/smoke/', '/tests/mysql-only/'],
      setupFiles: ['<rootDir>/tests/helpers/embedded-env.js'],
    },
    { ...base, displayName: 'smoke', testMatch: ['<rootDir>/tests/smoke/**/*.test.ts'], testTimeout: 60000 },
  ],
};
