/**
 * DB_QUERY_TIMEOUT_MS bounds statements inside transactions too (src/db.ts, timeClient): a command whose transaction
 * waits on a row lock held from another connection answers 503 / 100007 with Retry-After after about that long,
 * not after innodb_lock_wait_timeout (50 s), and its transaction is rolled back. MariaDB only: SQLite takes no row
 * locks, and its one connection has no statement timeout.
 */
import knexFactory, { Knex } from 'knex';
import { addDomain, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { as, bulkSubscribers, makeField, makeList, owner } from '../lists/fixtures';

const TIMEOUT_MS = 1000;
/** Far under the 50 s a lock wait lasts, with room for a loaded machine. */
const ANSWERED_WITHIN_MS = TIMEOUT_MS + 4000;

let h: Harness;
let other: Knex;
beforeAll(async () => {
  h = await startHarness({ DB_QUERY_TIMEOUT_MS: String(TIMEOUT_MS), DELETE_CHUNK_ROWS: '5' });
  other = knexFactory({ client: 'mysql2', connection: h.env.DATABASE_URL, pool: { min: 0, max: 1 } });
});
afterAll(async () => {
  await other.destroy();
  await h.close();
});

/**
 * Posts `params` to /api.php while `table`'s row `id` is locked FOR UPDATE from another connection; the lock goes
 * once the reply is in, or after ANSWERED_WITHIN_MS at the latest (so a request that waits on it still ends).
 */
async function whileLocked(table: string, id: number, params: Record<string, unknown>) {
  const trx = await other.transaction();
  try {
    await trx(table).where({ id }).forUpdate().first('id');
    const started = Date.now();
    const request = h.request('POST', '/api.php', { body: params }).then((r) => r);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ANSWERED_WITHIN_MS)));
    const r = await Promise.race([request, late]).finally(() => clearTimeout(timer));
    const ms = Date.now() - started;
    if (!r) {
      await trx.rollback();
      await request;
      throw new Error(`no answer within ${ANSWERED_WITHIN_MS} ms while the ${table} row was locked`);
    }
    return { r, ms };
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
  }
}

function expectUnavailable({ r, ms }: Awaited<ReturnType<typeof whileLocked>>) {
  expect(r.status).toBe(503);
  expect(r.headers['retry-after']).toBe('5');
  expect(r.body).toMatchObject({ Success: false, ErrorCode: 100007 });
  expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  expect(ms).toBeLessThan(ANSWERED_WITHIN_MS);
}

it("list.delete's closing transaction, waiting on the locked list row, answers 100007 in time and rolls back; the call again finishes", async () => {
  const o = await owner(h);
  const listId = await makeList(h, o);
  const field = await makeField(h, o, listId, 'City');
  await bulkSubscribers(h.services.db, listId, 12, 'lock-', 'example.com');

  expectUnavailable(await whileLocked('lists', listId, { Command: 'list.delete', SessionID: o.sessionId, ListID: listId }));
  // The members went in their own runs; the closing transaction had deleted the field before it waited: rolled back.
  expect(await h.services.db('subscribers').where({ list_id: listId }).first()).toBeUndefined();
  expect(await h.services.db('list_custom_fields').where({ id: field }).first()).toBeDefined();
  expect(await h.services.db('lists').where({ id: listId }).first()).toBeDefined();

  expect(await as(h, o)('list.delete', { ListID: listId })).toEqual({ Success: true, ErrorCode: 0, ErrorText: '' });
  expect(await h.services.db('lists').where({ id: listId }).first()).toBeUndefined();
  expect(await h.services.db('list_custom_fields').where({ id: field }).first()).toBeUndefined();
});

it("emailgateway.deletedomain's transaction, waiting on the locked account row, answers 100007 in time and changes nothing", async () => {
  const o = await owner(h);
  const domainId = await addDomain(h, o.sessionId, uniqueDomain('locked'));
  const before = await h.services.db('sender_domains').where({ id: domainId }).first('status', 'updated_at');

  expectUnavailable(await whileLocked('users', o.userId, { Command: 'emailgateway.deletedomain', SessionID: o.sessionId, DomainID: domainId }));
  expect(await h.services.db('sender_domains').where({ id: domainId }).first('status', 'updated_at')).toEqual(before);

  expect(await as(h, o)('emailgateway.deletedomain', { DomainID: domainId })).toMatchObject({ Success: true, ErrorCode: 0 });
  expect(await h.services.db('sender_domains').where({ id: domainId }).first()).toBeUndefined();
});
