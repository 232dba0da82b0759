import type { Knex } from 'knex';
import { createConnection } from 'mysql2';
import type { Stmt } from '../../src/db';
import { createLeaseGiveBack } from '../../src/delivery/lease-giveback';
import { backend } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/**
 * A lease group whose answers stay lost (a database blip longer than its ~3 s of asking again) gave up and left the
 * rows it may have stamped 'sending', leased to the worker, for LEASE_SECONDS (300 s) until the sweeper took them
 * back. Now the group gives back whatever carries its stamp in the background, and the mail goes as soon as the
 * database answers again.
 */
let rig: RelayRig;

beforeAll(async () => {
  // No timed sweeps: only the give-back can bring the row back within the test.
  rig = await startRelayRig({ SWEEP_INTERVAL_SECONDS: '3600', LEASE_SECONDS: '300' });
});
afterAll(() => rig?.close());

const OUTAGE_MS = 4000;

it('gives back the rows of a lease group that gave up, and delivers them once soon after the database answers again', async () => {
  const { h, s, sink } = rig;
  const store = h.services.store;
  const runTogether = store.runTogether.bind(store);
  let lostUntil = 0;
  let lost = 0;
  // From the first lease UPDATE on, for OUTAGE_MS: every statement runs (the lease UPDATE commits), then its answer
  // is lost as mysql2 reports a statement timeout.
  store.runTogether = async (stmts: Stmt[]) => {
    const results = await runTogether(stmts);
    if (!lostUntil && /^update `deliveries` set `lease_owner`/.test(String((stmts[0].toSQL() as { sql: string }).sql))) lostUntil = Date.now() + OUTAGE_MS;
    if (Date.now() < lostUntil) {
      lost += 1;
      throw Object.assign(new Error('the database did not answer within 3000 ms'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
    }
    return results;
  };
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'given back',
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: 'Shop', email: `orders@${s.domain}` },
        To: [{ name: '', email: 'given-back@dest.test' }],
      },
    });
    expect(res.status).toBe(200);
    const row = () => h.services.db('deliveries').where({ message_id: res.body.MessageID }).first();
    // LEASE_SECONDS is 300: left leased, the row would wait minutes.
    await waitFor(async () => (await row())?.status === 'delivered', OUTAGE_MS + 8000, 'delivered after the outage');
    expect(Date.now() - lostUntil).toBeLessThan(5000);
    // The group asked again and gave up (five lease round trips lost), and the give-back's own answers were lost too.
    expect(lost).toBeGreaterThan(5);
    expect(await row()).toMatchObject({ attempts: 1, lease_until: 0 });
    expect(sink.received.filter((r) => r.to[0] === 'given-back@dest.test')).toHaveLength(1);
  } finally {
    store.runTogether = runTogether;
  }
});

it('puts our stamped rows back to queued or deferred, and never touches a row another worker holds with the same stamp', async () => {
  const { h, s } = rig;
  const db = h.services.db;
  const res = await h.request('POST', '/api/v1/email/batch', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Messages: [1, 2, 3].map((i) => ({
        Subject: `row ${i}`,
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: 'Shop', email: `orders@${s.domain}` },
        To: [{ name: '', email: `row${i}@dest.test` }],
      })),
    },
  });
  expect(res.status).toBe(200);
  const messageIds: string[] = res.body.Results.map((r: { MessageID: string }) => r.MessageID);
  const delivered = async () => (await db('deliveries').whereIn('message_id', messageIds).where({ status: 'delivered' }).count({ n: '*' }))[0].n;
  await waitFor(async () => Number(await delivered()) === 3, 10_000, 'the three rows delivered');
  const [first, again, theirs] = (await db('deliveries').whereIn('message_id', messageIds).orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
  // Leased as a lease group leaves them; not due for an hour, so the jobs the give-back adds do not send them again.
  const until = Date.now() + 60_000;
  const later = Date.now() + 3_600_000;
  const lease = { status: 'sending', lease_until: until, next_attempt_at: later };
  await db('deliveries')
    .where({ id: first })
    .update({ ...lease, attempts: 0, lease_owner: 'me' });
  await db('deliveries')
    .where({ id: again })
    .update({ ...lease, attempts: 2, lease_owner: 'me' });
  await db('deliveries')
    .where({ id: theirs })
    .update({ ...lease, attempts: 2, lease_owner: 'someone-else' });
  const giveBacks = createLeaseGiveBack({ services: h.services, owner: 'me' });
  try {
    giveBacks.giveBack([first, again, theirs], until);
    const row = (id: number) => db('deliveries').where({ id }).first();
    await waitFor(async () => Number((await row(again)).lease_until) === 0, 5000, 'our rows given back');
    expect(await row(first)).toMatchObject({ status: 'queued', attempts: 0, lease_owner: '', lease_until: 0 });
    expect(await row(again)).toMatchObject({ status: 'deferred', attempts: 2, lease_owner: '', lease_until: 0 });
    expect(await row(theirs)).toMatchObject({ status: 'sending', lease_owner: 'someone-else' });
    expect(Number((await row(theirs)).lease_until)).toBe(until);
  } finally {
    giveBacks.stop();
  }
});

/** Three delivered rows of a batch through the API (one attempt each), put back to waiting (not due for an hour): rows a lease could take. */
async function queuedRows(tag: string): Promise<number[]> {
  const { h, s } = rig;
  const db = h.services.db;
  const res = await h.request('POST', '/api/v1/email/batch', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Messages: [1, 2, 3].map((i) => ({
        Subject: `${tag} ${i}`,
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: 'Shop', email: `orders@${s.domain}` },
        To: [{ name: '', email: `${tag}${i}@dest.test` }],
      })),
    },
  });
  expect(res.status).toBe(200);
  const messageIds: string[] = res.body.Results.map((r: { MessageID: string }) => r.MessageID);
  const rows = () => db('deliveries').whereIn('message_id', messageIds);
  await waitFor(async () => (await rows().where({ status: 'delivered' })).length === 3, 10_000, 'the three rows delivered');
  await rows().update({ status: 'deferred', lease_owner: '', lease_until: 0, next_attempt_at: Date.now() + 3_600_000 });
  return (await rows().orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
}

/**
 * A lease group's UPDATE that the client gave up on and the kill missed: sent on a connection of its own, it waits on
 * the row locks `locker` holds; the connection is then destroyed as abandonStatement destroys one, and no kill
 * follows. It commits, stamping the rows `until` for 'me', when the locks go. Answers the server thread running it.
 */
async function abandonedLeaseUpdate(locker: Knex.Transaction, ids: number[], until: number): Promise<number> {
  const db = rig.h.services.db;
  await locker('deliveries').whereIn('id', ids).forUpdate().select('id');
  const conn = createConnection(rig.h.services.config.databaseUrl!);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  const thread = conn.threadId!;
  conn.query(
    `update \`deliveries\` set \`status\` = 'sending', \`lease_owner\` = 'me', \`lease_until\` = ? where \`id\` in (${ids.map(() => '?').join(', ')})`,
    [until, ...ids],
    () => undefined,
  );
  // On the server, waiting on the lock, before the client goes.
  await waitFor(
    async () => {
      const [rows] = await db.raw('select `INFO` from information_schema.`PROCESSLIST` where `ID` = ?', [thread]);
      return /^update/.test(String(rows[0]?.INFO ?? ''));
    },
    5000,
    'the lease UPDATE waiting on the lock',
  );
  conn.destroy();
  return thread;
}

/** Counts the give-back's looks (its SELECT of the stamped rows) answered from now on. */
function countLooks(): { n: number; restore(): void } {
  const store = rig.h.services.store;
  const original = store.runTogether.bind(store);
  const looks = { n: 0, restore: () => void (store.runTogether = original) };
  store.runTogether = async (stmts, opts) => {
    const out = await original(stmts, opts);
    if (/^select `id`, `attempts` from `deliveries`/.test(String(stmts[0].toSQL().sql))) looks.n += 1;
    return out;
  };
  return looks;
}

interface LateLease {
  ids: number[];
  locker: Knex.Transaction;
  looks: { n: number };
  giveBacks: ReturnType<typeof createLeaseGiveBack>;
}

/**
 * Three waiting rows whose lease group gave up while its UPDATE (abandoned, see abandonedLeaseUpdate) still waits on
 * `locker`'s row locks; the give-back is handed the group and has looked once, finding nothing stamped. `body` goes
 * on from there; the locks, the count of looks and the give-back are let go after it.
 */
async function withLateLease(tag: string, body: (late: LateLease) => Promise<void>): Promise<void> {
  const db = rig.h.services.db;
  const ids = await queuedRows(tag);
  const until = Date.now() + 60_000;
  const locker = await db.transaction();
  const looks = countLooks();
  const giveBacks = createLeaseGiveBack({ services: rig.h.services, owner: 'me' });
  try {
    const thread = await abandonedLeaseUpdate(locker, ids, until);
    giveBacks.giveBack(ids, until, [thread]);
    await waitFor(() => looks.n >= 1, 5000, 'the first look');
    await body({ ids, locker, looks, giveBacks });
  } finally {
    looks.restore();
    giveBacks.stop();
    await locker.commit().catch(() => undefined);
  }
}

// MariaDB only: the lease UPDATE that outlives its client's timeout is a server thread waiting on a row lock; SQLite
// runs each statement to its end inside the call, with no timeout to give up on it.
(backend() === 'mysql' ? describe : describe.skip)('a lease UPDATE that commits after the give-back looked', () => {
  it('is given back once its server thread has ended, not after LEASE_SECONDS', async () => {
    const db = rig.h.services.db;
    await withLateLease('late', async ({ ids, locker, looks }) => {
      // The first look found nothing stamped: the UPDATE still waits.
      await new Promise((r) => setTimeout(r, 300));
      expect((await db('deliveries').whereIn('id', ids).where({ status: 'sending' })).length).toBe(0);
      // The lock goes: the abandoned UPDATE commits and stamps the rows 'me' … `until`, after the look; they go back
      // to 'deferred' (an attempt made) with fresh jobs, not due for an hour.
      await locker.commit();
      const released = Date.now();
      // The rows were 'deferred' and unleased before the stamp too: only the second look and a write after the
      // release tell the give-back's work from a stamp not yet landed.
      await waitFor(
        async () =>
          looks.n >= 2 &&
          (await db('deliveries').whereIn('id', ids).where({ status: 'deferred', lease_until: 0 }).where('updated_at', '>=', released)).length === 3,
        10_000,
        'the rows given back',
      );
      expect(Date.now() - released).toBeLessThan(10_000);
      expect(looks.n).toBe(2);
      expect(await db('deliveries').whereIn('id', ids).where({ lease_owner: 'me' })).toHaveLength(0);
    });
  });

  it("stops watching at the worker's stop: what the statement stamps later is left to the sweeper", async () => {
    const db = rig.h.services.db;
    await withLateLease('stopped', async ({ ids, locker, looks, giveBacks }) => {
      giveBacks.stop();
      await locker.commit();
      await waitFor(
        async () => (await db('deliveries').whereIn('id', ids).where({ status: 'sending', lease_owner: 'me' })).length === 3,
        5000,
        'the late stamp',
      );
      await new Promise((r) => setTimeout(r, 2000));
      expect(looks.n).toBe(1);
      expect(await db('deliveries').whereIn('id', ids).where({ status: 'sending', lease_owner: 'me' })).toHaveLength(3);
    });
  });
});

it("the worker's stop ends a give-back still trying, without waiting for it", async () => {
  const { h, s } = rig;
  const store = h.services.store;
  const runTogether = store.runTogether.bind(store);
  let tries = 0;
  // The database never answers the lease group or its give-back again: the group gives up, and the give-back keeps
  // trying (the request that accepts the message is answered).
  store.runTogether = async (stmts: Stmt[]) => {
    const results = await runTogether(stmts);
    const text = String((stmts[0].toSQL() as { sql: string }).sql);
    if (/^select `id`, `attempts` from `deliveries`/.test(text)) tries += 1;
    if (!/^(update `deliveries` set `(status|lease_owner)`|select `id`, `attempts` from `deliveries`)/.test(text)) return results;
    throw Object.assign(new Error('the database did not answer within 3000 ms'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
  };
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'never answered',
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: 'Shop', email: `orders@${s.domain}` },
        To: [{ name: '', email: 'never@dest.test' }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(() => tries >= 2, 10_000, 'the give-back trying again');
    const began = Date.now();
    await rig.worker.stop();
    expect(Date.now() - began).toBeLessThan(1000);
    const stoppedAt = tries;
    await new Promise((r) => setTimeout(r, 2000));
    expect(tries).toBe(stoppedAt);
  } finally {
    store.runTogether = runTogether;
  }
});
