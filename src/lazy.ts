/**
 * A module loaded at its first use instead of when the importing file loads:
 * `const bullmq = lazy(() => require('bullmq') as typeof import('bullmq'))`, then `bullmq().Queue`, with the
 * types from `import type`. For libraries only some installs or paths reach (BullMQ and ioredis without REDIS_URL
 * or before the first job, mailparser for one command): a process that never reaches them does not read and
 * compile them (hundreds of files for BullMQ), which shortens a CLI run or a role's start, and every jest test
 * file, since each file loads its modules afresh.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: { value: T } | null = null;
  return () => (loaded ??= { value: load() }).value;
}
