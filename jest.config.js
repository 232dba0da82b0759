/**
 * Two projects over the same tests: the real MariaDB + Redis (production path) runs every test; the embedded
 * default (SQLite, in-process queue and counters) runs the tests whose code path differs per backend, listed
 * below (docs/testing.md says why each is there). tests/smoke starts the built gateway as a newcomer would and
 * runs once.
 */
const base = {
  preset: 'ts-jest',
  // node's, telling each file's kept error log which test failed (tests/helpers/failure-env.js says why).
  testEnvironment: '<rootDir>/tests/helpers/failure-env.js',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
  // jest-runtime, with each module's compiled code shared by the test files of a worker (the file says why).
  runtime: '<rootDir>/tests/helpers/code-cache-runtime.js',
  // TEST_CPU_OUT=<file>: each file's CPU seconds appended to it (tests/helpers/cpu-per-file.js says what is counted).
  // Listed whether or not it is set (the file does nothing without it): ts-jest keys its cache of compiled modules on
  // the whole project config, so a config that changed with TEST_CPU_OUT compiled every module afresh in a measuring
  // run, and each worker's first files were charged for it (console/campaigns in-band: 90 CPU-s cold, 22.5 warm).
  setupFilesAfterEnv: ['<rootDir>/tests/helpers/cpu-per-file.js'],
};

/**
 * The embedded project's tests: code that branches on the backend (raw SQL vs the builder, upserts, row locks,
 * dialect SQL functions, BullMQ vs the in-process queue, Redis vs in-process counters) and the embedded install
 * itself. A new test file in one of these folders runs on both; elsewhere it runs on MariaDB + Redis only,
 * unless added here.
 */
const EMBEDDED = [
  // The store, the queue and counters, and the embedded install.
  'tests/migrations.test.ts',
  'tests/harness-template.test.ts',
  'tests/db-statements.test.ts',
  'tests/queue.test.ts',
  'tests/login-throttle.test.ts',
  'tests/auth/credential-guesses.test.ts', // Redis vs in-process counters
  'tests/delivery/settle-fallback.test.ts', // the row-only settle, and a trigger per backend
  'tests/api-door.test.ts', // /readyz checks differ per backend
  'tests/domains/dev-mode.test.ts', // development mode exists only on the embedded default
  'tests/ops/cli.test.ts',
  'tests/ops/metrics.test.ts',
  'tests/ops/openapi.test.ts', // runs once, here
  'tests/ops/queue-control.test.ts', // held deliveries vs the in-process queue and sweeper
  'tests/ops/queue-pages.test.ts', // the page's rows locked on MySQL only
  'tests/throttle/**', // in-process limits and connection counts vs Redis
  'tests/domains/dns-watch.test.ts', // the watch's claim is a conditional UPDATE per backend
  'tests/domains/dkim-rotation.test.ts', // the signing switch is a conditional write
  'tests/domains/reputation-guard.test.ts', // the admin's status change locks the row on MySQL only
  'tests/domains/suspension-hold.test.ts', // the hold and release lock rows on MySQL only; the worker's conditional hold
  'tests/domains/reputation-races.test.ts', // the races are made at one statement; SQLite has one connection
  'tests/domains/retained-suppressions.test.ts', // INSERT … SELECT with a duplicate rule per dialect
  'tests/domains/retained-hours.test.ts', // the kept hours' INSERT … SELECT upsert per dialect
  'tests/domains/suspended-lists.test.ts', // the domain row's share lock is taken on MySQL only
  'tests/domains/chunked-delete.test.ts', // runs of keys read by index per backend; the cascades per store
  'tests/domains/chunked-restore.test.ts', // the restore's INSERT … SELECT per run, a duplicate rule per dialect
  'tests/domains/deletion-mark.test.ts', // the mark's conditional writes per backend; a DELETE trigger per dialect
  'tests/domains/deletion-races.test.ts', // the races are made per backend: row locks on MySQL, one connection on SQLite
  'tests/console/**', // the browser drives the embedded gateway only
  'tests/capture/**',
  // The send path and everything downstream of it: group commits, leases, upserts, per-backend SQL.
  'tests/send/**',
  'tests/smtp/front.test.ts',
  'tests/delivery/byte-budget.test.ts', // the lease reads body lengths per backend
  'tests/delivery/withheld-read.test.ts', // a withheld body's read asked again, and its lease given back, per backend
  'tests/delivery/suspension-expiry.test.ts', // the expiry's conditional UPDATE and the sweeper vs the in-process queue
  'tests/delivery/due-unleased.test.ts', // the sweeper's per-status UNION with LIMIT in each part, per backend
  'tests/delivery/switched-off.test.ts', // the hold's and release's correlated subqueries in UPDATEs, per backend
  'tests/events/**',
  'tests/stats/**',
  'tests/tracking/**',
  'tests/webhooks/**',
  'tests/inbound/**',
  'tests/lists/**',
  'tests/campaigns/**',
  'tests/octeth/suppression.test.ts', // suppression.import's upsert
  'tests/commands/emailgateway.adddomain.test.ts', // the per-user domain limit locks the user row on MySQL only
  'tests/commands/emailgateway.messagelog.test.ts', // the message log picks its query per backend
  'tests/dialects/platform-listings.test.ts', // the platform's status filter is a message's status in SQL, per backend
  'tests/dialects/platform-door-gaps.test.ts', // the platform's Idempotency-Key reply commits with its messages, per backend
  'tests/commands/emailgateway.getdomains.test.ts', // LastActivityAt is read per backend (src/events/last-activity.ts)
  'tests/commands/user.delete-data.test.ts', // the account's rows go by each store's foreign-key cascades
].map((p) => `<rootDir>/${p.endsWith('**') ? `${p}/*.test.ts` : p}`);

/**
 * Files in those folders whose code is the same whatever POSTERN_TEST_DB says: most never open a store, a queue or a
 * counter (pure functions, DKIM signing, the SMTP pool against a loopback server, the throttle on a simulated clock),
 * two check only rendering. The embedded project skips them; each one still runs on mysql+redis.
 */
const SAME_ON_BOTH = [
  'tests/coalesce.test.ts',
  'tests/outage.test.ts',
  'tests/send/classify.test.ts',
  'tests/send/compose-mime.test.ts',
  'tests/send/dkim-cache.test.ts',
  'tests/send/dkim-pool.test.ts',
  'tests/send/dkim-sign.test.ts',
  // These two open a store, but what they check is rendering (personalisation inserted once, a raw fallback's
  // links tracked), the same code on both backends; the send path they go through runs embedded in send/*.
  'tests/send/raw-fallback-links.test.ts',
  'tests/send/render-once.test.ts',
  'tests/send/mx-tls.test.ts', // the TLS policy is the transport's, the same on both
  // Issue 15's 1,000-message batch, each composed at delivery, DKIM-signed and verified against the per-message path
  // (25-35 s a project): the composing is the worker's code, the same on both; the stored content's reads and the
  // lease per backend run embedded in the rest of send/*.
  'tests/send/compose-at-send.test.ts',
  // ~360 crafted reports of 250 KiB through the intake's port (6-10 s of CPU a project): what it checks is the parse
  // gate's cost, the same code on both; the intake's store writes per backend run embedded in inbound/*.
  'tests/inbound/intake-parse-cost.test.ts',
  'tests/send/mta-sts.test.ts', // so is MTA-STS
  'tests/send/smtp-pool.test.ts',
  'tests/throttle/simulation.test.ts',
  'tests/tracking/track-ids.test.ts',
].map((p) => `/${p.replace(/\./g, '\\.')}$`);

module.exports = {
  // Four workers on the project's two cores. A file sits idle ~70 % of its wall time (MariaDB's commits, sinks,
  // child roles, timers): with four jest's processes used 127 % of the two cores (600 s), with six 132 % (466 s),
  // with eight 162 % (395 s) warm. But at six and eight `delivery/switched-off`'s 15-20 s waits for the worker failed
  // in whole runs (load 8-11) and pass alone; until that file's waits hold under load, four (docs/testing.md).
  maxWorkers: 4,
  // How long a worker may take to end once the run is over before jest kills it and prints "A worker process has failed
  // to exit gracefully" (default 500 ms). The workers end with nothing left open (every handle a file opens is
  // closed by then), but a worker that has run ~50 files holds a large heap, and Node frees it on the way out: a few
  // hundred ms, over 500 on a loaded machine. A real leak (a server, a socket, a timer) still shows after 2 s.
  workerGracefulExitTimeout: 2000,
  // Longest files first, from the committed tests/durations.json (tests/helpers/sequencer.js).
  testSequencer: '<rootDir>/tests/helpers/sequencer.js',
  // Drops the reused test databases of workers that have exited (tests/helpers/db-pool.ts).
  globalTeardown: '<rootDir>/tests/helpers/db-pool-sweep.js',
  testTimeout: 30000,
  projects: [
    {
      ...base,
      displayName: 'mysql+redis',
      testMatch: ['<rootDir>/tests/**/*.test.ts'],
      // ops/openapi runs on the embedded project only (it skips itself here, after loading swagger-parser and a browser driver).
      testPathIgnorePatterns: ['/tests/smoke/', '/tests/console/', '/tests/ops/openapi\\.test\\.ts$'],
    },
    {
      ...base,
      displayName: 'embedded',
      testMatch: EMBEDDED,
      testPathIgnorePatterns: ['/tests/smoke/', '/tests/mysql-only/', ...SAME_ON_BOTH],
      setupFiles: ['<rootDir>/tests/helpers/embedded-env.js'],
    },
    { ...base, displayName: 'smoke', testMatch: ['<rootDir>/tests/smoke/**/*.test.ts'], testTimeout: 60000 },
  ],
};
