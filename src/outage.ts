/**
 * The one place that tells "a dependency is not answering" (database or Redis down, lost, frozen, overloaded)
 * from every other failure. Such errors become HTTP 503 / ErrorCode 100007 with Retry-After at every door, and a
 * 4xx temporary reply on SMTP; anything else stays an internal error.
 */

/** A wait on a dependency that took longer than we allow (our own deadlines: /readyz, queue adds, …). */
export class DependencyTimeout extends Error {
  readonly code = 'POSTERN_DEPENDENCY_TIMEOUT';
  constructor(what: string, ms: number) {
    super(`${what} gave no answer within ${ms} ms`);
  }
}

/** Socket-level failures (Node), and mysql2's codes for a connection that is gone or timed out. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'POSTERN_DEPENDENCY_TIMEOUT',
]);

/** Server answers that mean "not now" rather than "your statement is wrong" (MariaDB/MySQL, SQLite). */
const BUSY_CODES = new Set([
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_STATEMENT_TIMEOUT',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_CANT_CREATE_THREAD',
  'ER_OUT_OF_RESOURCES',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  // A full disk or table, and a server switched read-only (a failover in progress): nothing in the request to fix.
  'ER_DISK_FULL',
  'ER_RECORD_FILE_FULL',
  'ER_READ_ONLY_MODE',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_QUERY_TIMEOUT',
  'SQLITE_FULL',
]);

/**
 * MariaDB's own error numbers that mysql2 has no name for (its table is MySQL's), so `code` is unset: 1927 a
 * connection killed (KILL, a failover, a restart mid-statement), 1969 max_statement_time reached.
 */
const BUSY_ERRNOS = new Set([1927, 1969]);
/** SQLite's extended codes of the busy, locked and I/O families (better-sqlite3 reports the extended one). */
const SQLITE_BUSY_FAMILY = /^SQLITE_(BUSY|LOCKED|IOERR)(_|$)/;

/**
 * ioredis reports a closed or unwritable connection, a timed-out command and a command given up after its
 * retries by message or class name only (no code), so these are matched by their exact library texts.
 */
const REDIS_MESSAGES = [
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'Reached the max retries per request limit',
];
/** Redis replies that say the server cannot serve right now. */
const REDIS_BUSY_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|OOM)\b/;

/** True when `err` (or what caused it) says a database or Redis is unreachable, lost, frozen or refusing for now. */
export function isOutage(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; errno?: unknown; sqlMessage?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (CONNECTION_CODES.has(e.code) || BUSY_CODES.has(e.code) || SQLITE_BUSY_FAMILY.test(e.code))) return true;
  if (e.code === undefined && typeof e.errno === 'number' && typeof e.sqlMessage === 'string' && BUSY_ERRNOS.has(e.errno)) return true;
  // knex: pool acquire timeout ("Timeout acquiring a connection") and .timeout() on a query.
  if (e.name === 'KnexTimeoutError' || e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && (REDIS_MESSAGES.some((m) => (e.message as string).startsWith(m)) || REDIS_BUSY_REPLY.test(e.message))) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isOutage(x, depth + 1))) return true;
  return isOutage(e.cause, depth + 1);
}

/** Resolves like `p`, or rejects with DependencyTimeout after `ms` (what `p` does later is ignored). */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DependencyTimeout(what, ms)), ms)));
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
