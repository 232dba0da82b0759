/**
 * A real api process (`node dist/src/main.js api`) is killed with -9 in the middle of a batch sent with an
 * Idempotency-Key, at the moment it matters most: with its messages ready to commit (or, before leases, already
 * committed) but its answer not given. A second api process must then resolve the retry within the lease
 * (IDEMPOTENCY_LEASE_SECONDS=2): one set of messages, never two, never a 409 that lasts.
 *
 * To stop the first process at that moment, the test holds a row lock on the key: the reply that is stored with
 * the messages (or, before this fix, after them) waits on it; after the kill, the statement it left waiting is
 * ended too.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { childEnv, Harness, senderSetup, startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { RoleProcess, spawnRole, waitHttp } from '../helpers/roles';
import { waitFor } from '../helpers/sink';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
const procs: RoleProcess[] = [];

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
});
afterAll(async () => {
  for (const p of procs) await p.kill();
  await h.services.queues.close();
  await h.close();
});

async function startApi(): Promise<number> {
  const port = await freePort();
  procs.push(
    spawnRole('api', {
      ...childEnv(h),
      PORT: String(port),
      HOST: '127.0.0.1',
      IDEMPOTENCY_LEASE_SECONDS: '2',
      API_RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'error',
    }),
  );
  await waitHttp(port);
  return port;
}

/** `LOCK TABLES <table> READ` on a connection of its own: other sessions' writes to the table wait until unlock(). */
async function lockTableForReads(db: Knex, table: string): Promise<{ unlock: () => Promise<void> }> {
  const conn = await db.client.acquireConnection();
  const run = (sql: string) => new Promise<void>((resolve, reject) => conn.query(sql, (err: Error | null) => (err ? reject(err) : resolve())));
  await run(`LOCK TABLES \`${table}\` READ`);
  return {
    unlock: async () => {
      await run('UNLOCK TABLES');
      await db.client.releaseConnection(conn);
    },
  };
}

function send(port: number, key: string, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/v1/email/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}`, 'idempotency-key': key },
    body: JSON.stringify(body),
  });
}

it('resolves a retry after the api was killed between its messages and its answer: one set of messages, then replays', async () => {
  const key = `crash-${crypto.randomUUID()}`;
  const subject = `killed mid-batch ${key}`;
  const body = {
    Messages: Array.from({ length: 50 }, (_, i) => ({
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'hello',
      From: { name: 'Shop', email: `shop@${s.domain}` },
      To: [{ name: '', email: `r${i}@recipient.test` }],
    })),
  };
  const db = h.services.db;
  const count = async () => Number((await db('messages').where({ subject }).count({ n: '*' }))[0].n);

  const first = await startApi();
  // Writes to `messages` wait on a table lock until the claimed key's row is ours: without it, a quick api could
  // claim the key and finish the batch between two polls, and the claim was never seen (once in a full run).
  const tables = await lockTableForReads(db, 'messages');
  const inFlight = send(first, key, body).catch(() => null); // its connection dies with the process
  let lock: Knex.Transaction;
  try {
    await waitFor(async () => !!(await db('idempotency_keys').where({ status_code: 0 }).first()), 20_000, 'the key to be claimed', 5);
    lock = await db.transaction();
    await lock('idempotency_keys').where({ status_code: 0 }).forUpdate().select('key_hash');
  } finally {
    await tables.unlock();
  }
  // Either the messages commit while the reply waits on our lock (how it was), or nothing commits (how it must be).
  await waitFor(async () => (await count()) > 0, 3000, 'messages').catch(() => undefined);
  await procs[0].kill();
  // A statement the dead process had already sent (waiting on our lock) would still run once we let go: end it
  // first, as the server would have had the process died a moment earlier.
  const [threads] = await db.raw('select `id` from information_schema.processlist where `db` = database() and `id` <> connection_id() and `info` like ?', [
    '%idempotency_keys%',
  ]);
  for (const t of threads as { id: number }[]) await db.raw(`kill ${Number(t.id)}`).catch(() => undefined);
  await lock.rollback();
  await inFlight;

  const second = await startApi();
  let res: Response | undefined;
  await waitFor(async () => (res = await send(second, key, body)).status !== 409, 15_000, 'the retry to be answered');
  expect(res!.status).toBe(200);
  const answer = (await res!.json()) as { Accepted: number };
  expect(answer.Accepted).toBe(50);
  expect(await count()).toBe(50);

  const again = await send(second, key, body);
  expect(again.status).toBe(200);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await again.json()).toEqual(answer);
  expect(await count()).toBe(50);
}, 90_000);
