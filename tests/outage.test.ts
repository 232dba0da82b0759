/**
 * isOutage (src/outage.ts) is the one judge of "a dependency is not answering" (503, code 100007) versus any other
 * failure (500, or the command's own code). Real error objects of the drivers where they can be made here; the
 * doors that use it are driven in tests/mysql-only/{database,redis}-outage.test.ts.
 */
import Database from 'better-sqlite3';
import { KnexTimeoutError } from 'knex';
import mysql from 'mysql2/promise';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { CommandError, hard, toHardError } from '../src/errors';
import { DependencyTimeout, isOutage, withDeadline } from '../src/outage';

// The harness's server, without loading the harness (a connection and a session variable, no database).
const MYSQL_ROOT = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isOutage', () => {
  it.each([
    ['connection refused', coded('ECONNREFUSED')],
    ['connection reset', coded('ECONNRESET')],
    ['mysql2 lost connection', coded('PROTOCOL_CONNECTION_LOST', 'Connection lost: The server closed the connection.')],
    ['mysql2 statement timeout', coded('PROTOCOL_SEQUENCE_TIMEOUT', 'Query inactivity timeout')],
    ['mysql2 connect timeout', coded('ETIMEDOUT', 'connect ETIMEDOUT')],
    ['server shutting down', coded('ER_SERVER_SHUTDOWN')],
    ['too many connections', coded('ER_CON_COUNT_ERROR')],
    ['deadlock', coded('ER_LOCK_DEADLOCK')],
    ['SQLite busy', coded('SQLITE_BUSY', 'database is locked')],
    ['knex pool acquire timeout', new KnexTimeoutError('Knex: Timeout acquiring a connection. The pool is probably full.')],
    ['ioredis without offline queue', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['ioredis closed connection', new Error('Connection is closed.')],
    ['ioredis command timeout', new Error('Command timed out')],
    ['ioredis gave up retrying', new MaxRetriesPerRequestError(1)],
    ['Redis loading its data', new Error('LOADING Redis is loading the dataset in memory')],
    ['our own deadline', new DependencyTimeout('Redis', 100)],
    ['a refused connection inside AggregateError', new AggregateError([coded('ECONNREFUSED')], 'all addresses failed')],
    ['a cause chain', Object.assign(new Error('wrapped'), { cause: coded('ECONNRESET') })],
  ])('recognises %s', (_name, err) => {
    expect(isOutage(err)).toBe(true);
    expect(toHardError(err)).toMatchObject({ code: 100007, httpStatus: 503, retryAfterSec: 5 });
  });

  it.each([
    ['a duplicate key', coded('ER_DUP_ENTRY')],
    ['a syntax error', coded('ER_PARSE_ERROR')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a command error', new CommandError(2)],
    ['nothing at all', undefined],
    ['a string', 'ECONNREFUSED'],
  ])('leaves %s alone', (_name, err) => {
    expect(isOutage(err)).toBe(false);
  });

  it('keeps a HardError as it is and gives other errors no HardError', () => {
    const e = hard.invalidJson();
    expect(toHardError(e)).toBe(e);
    expect(toHardError(new Error('boom'))).toBeNull();
  });
});

describe('isOutage on errors the drivers really raise', () => {
  it("recognises MariaDB's max_statement_time (errno 1969, which mysql2 gives no code)", async () => {
    const conn = await mysql.createConnection(MYSQL_ROOT);
    try {
      await conn.query('SET SESSION max_statement_time = 0.05');
      const err = await conn.query('SELECT SLEEP(2)').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ errno: 1969, code: undefined });
      expect(isOutage(err)).toBe(true);
    } finally {
      await conn.end();
    }
  });

  it('recognises a full SQLite database (SQLITE_FULL), and not a constraint failure', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (b BLOB NOT NULL)');
    db.pragma('max_page_count = 8');
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    const fill = () => {
      for (let i = 0; i < 100; i += 1) insert.run(Buffer.alloc(4096));
    };
    expect(fill).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }));
    let full: unknown;
    try {
      fill();
    } catch (e) {
      full = e;
    }
    expect(isOutage(full)).toBe(true);
    let constraint: unknown;
    try {
      insert.run(null);
    } catch (e) {
      constraint = e;
    }
    expect(constraint).toMatchObject({ code: 'SQLITE_CONSTRAINT_NOTNULL' });
    expect(isOutage(constraint)).toBe(false);
    db.close();
  });

  it.each([
    ['a read-only server (failover)', coded('ER_OPTION_PREVENTS_STATEMENT')],
    ['a full disk', coded('ER_DISK_FULL')],
    ["SQLite's extended busy code", coded('SQLITE_BUSY_SNAPSHOT')],
    ["SQLite's extended I/O code", coded('SQLITE_IOERR_WRITE')],
  ])('recognises %s', (_name, err) => {
    expect(isOutage(err)).toBe(true);
  });

  it('does not take an errno alone, without the server message mysql2 gives, for an outage', () => {
    expect(isOutage(Object.assign(new Error('x'), { errno: 1969 }))).toBe(false);
  });
});

describe('withDeadline', () => {
  it('rejects with DependencyTimeout when the promise takes too long, and passes a prompt answer through', async () => {
    await expect(withDeadline(new Promise(() => undefined), 20, 'the database')).rejects.toBeInstanceOf(DependencyTimeout);
    await expect(withDeadline(Promise.resolve(7), 1000, 'the database')).resolves.toBe(7);
  });
});
