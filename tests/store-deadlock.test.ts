import type { Knex } from 'knex';
import { sql } from '../src/db';
import { backend, Harness, startHarness } from './helpers/harness';
import { waitFor } from './helpers/sink';

/**
 * A batch transaction that InnoDB rolls back as a deadlock's victim runs again (src/store/batch-pool.ts) instead of
 * failing its whole group. The deadlock is a real one: another connection holds row 1 and has changed many rows (so
 * InnoDB picks the batch transaction, which changed one, as the victim), the batch transaction holds row 2 and asks
 * for row 1, and the other connection then asks for row 2.
 */
let h: Harness;
let db: Knex;

beforeAll(async () => {
  h = await startHarness();
  db = h.services.db;
  await db.schema.createTable('deadlock_probe', (t) => {
    t.integer('id').primary();
    t.integer('n').notNullable().defaultTo(0);
  });
  await db('deadlock_probe').insert(Array.from({ length: 200 }, (_, i) => ({ id: i + 1, n: 0 })));
});
afterAll(async () => {
  await h.close();
});

/** Whether connection `id`'s transaction is waiting for a row lock. */
const waitsForLock = async (id: number) =>
  Number((await db.raw("select count(*) as n from information_schema.innodb_trx where trx_mysql_thread_id = ? and trx_state = 'LOCK WAIT'", [id]))[0][0].n) > 0;

const nOf = async (id: number) => Number((await db('deadlock_probe').where({ id }).first('n')).n);

(backend() === 'mysql' ? it : it.skip)('runs a batch transaction again when InnoDB chose it as a deadlock victim, and commits it once', async () => {
  const other = await db.transaction();
  let tries = 0;
  try {
    // The other side: many rows changed (a heavier transaction than the batch's), row 1 among them.
    await other('deadlock_probe').where('id', '>', 2).increment('n', 1);
    await other('deadlock_probe').where({ id: 1 }).increment('n', 1);
    const otherId = Number((await other.raw('select connection_id() as id'))[0][0].id);
    // Each step waits for the state it needs, not for a fixed time: a batch pool slow to open its first connection (a
    // loaded run) once came after the other side had committed, and the batch went through on its first try.
    let otherWaits: Promise<unknown> | undefined;
    let otherAsked!: () => void;
    const asked = new Promise<void>((resolve) => (otherAsked = resolve));
    const batch = h.services.store.batchTransaction(async (tx) => {
      tries += 1;
      await tx.run([sql(tx.q, 'update `deadlock_probe` set `n` = `n` + 10 where `id` = 2', [])]);
      if (tries === 1) {
        // Row 2 is ours now: the other side asks for it (sent now, not when awaited) and waits, then we ask for its
        // row 1: a cycle.
        otherWaits = other('deadlock_probe')
          .where({ id: 2 })
          .increment('n', 1)
          .then(() => undefined);
        otherWaits.catch(() => undefined); // awaited below; its failure is the test's
        otherAsked();
        await waitFor(() => waitsForLock(otherId), 10_000, 'the other side to wait for row 2');
      }
      await tx.run([sql(tx.q, 'update `deadlock_probe` set `n` = `n` + 10 where `id` = 1', [])]);
      return tries;
    });
    await Promise.race([asked, batch]);
    // The victim's rollback lets the other side take row 2; it commits, and the retry goes through after it.
    await otherWaits;
    await other.commit();
    expect(await batch).toBe(2);
  } finally {
    if (!other.isCompleted()) await other.rollback();
  }
  const rows = await db('deadlock_probe').whereIn('id', [1, 2]).orderBy('id').select('n');
  // Each side's change applied exactly once: the other side's +1 and the batch's +10 on both rows.
  expect(rows.map((r: { n: number }) => Number(r.n))).toEqual([11, 11]);
});

/** A batch transaction on row `id` that fails with `code` every time: how often it ran, and whether row `id` kept its value. */
async function failingEveryTime(id: number, code: string): Promise<{ tries: number; unchanged: boolean }> {
  const before = await nOf(id);
  let tries = 0;
  const failing = h.services.store.batchTransaction(async (tx) => {
    tries += 1;
    await tx.run([sql(tx.q, 'update `deadlock_probe` set `n` = `n` + 100 where `id` = ?', [id])]);
    throw Object.assign(new Error(`failed with ${code}`), { code });
  });
  await expect(failing).rejects.toMatchObject({ code });
  return { tries, unchanged: (await nOf(id)) === before };
}

(backend() === 'mysql' ? it : it.skip)('gives up after three deadlocks in a row with the deadlock error, writing nothing', async () => {
  expect(await failingEveryTime(3, 'ER_LOCK_DEADLOCK')).toEqual({ tries: 3, unchanged: true });
});

it('does not retry other errors', async () => {
  expect(await failingEveryTime(4, 'ER_LOCK_WAIT_TIMEOUT')).toEqual({ tries: 1, unchanged: true });
});
