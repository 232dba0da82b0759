/**
 * isOutage (src/outage.ts) is the one judge of "a dependency is not answering" (503, code 100007) versus any other
 * failure (500, or the command's own code). Real error objects of the drivers where they can be made here; the
 * doors that use it are driven in tests/mysql-only/{database,redis}-outage.test.ts.
 */
import { KnexTimeoutError } from 'knex';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { CommandError, hard, toHardError } from '../src/errors';
import { DependencyTimeout, isOutage, withDeadline } from '../src/outage';

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

describe('withDeadline', () => {
  it('rejects with DependencyTimeout when the promise takes too long, and passes a prompt answer through', async () => {
    await expect(withDeadline(new Promise(() => undefined), 20, 'the database')).rejects.toBeInstanceOf(DependencyTimeout);
    await expect(withDeadline(Promise.resolve(7), 1000, 'the database')).resolves.toBe(7);
  });
});
