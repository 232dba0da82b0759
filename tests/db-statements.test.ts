import type { Knex } from 'knex';
import { insertRows, mysqlInsert, runInTurn, Sql, sql } from '../src/db';
import { updateByCase } from '../src/delivery/lease-settle';
import { Harness, startHarness } from './helpers/harness';

/**
 * The plain-SQL statements of the group-commit paths (src/db.ts, run by the store's batch pool in
 * src/store/batch-pool.ts): on MySQL they skip the query builder, so these tests hold them to what the builder
 * guaranteed — every value bound (hostile text and every byte value come back unchanged, a `?` inside a value stays
 * a character), rows that do not fit the plain form go through the builder, and the same statements run inside a
 * batch transaction, joined outside one, and one by one.
 */
let h: Harness;
let db: Knex;

const HOSTILE = [
  "it's",
  'back\\slash',
  'quote " and ` backtick',
  'crlf\r\nBcc: victim@example.com\r\n',
  'placeholder ? and ?? and :name',
  "'); DROP TABLE stmt_probe; --",
  'nul \u0000 byte',
  'emoji 📬 and ümlaut',
];
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

beforeAll(async () => {
  // A short statement timeout, for the test of a prepared statement that gets no answer.
  h = await startHarness({ DB_QUERY_TIMEOUT_MS: '1000' });
  db = h.services.db;
  await db.schema.createTable('stmt_probe', (t) => {
    t.increments('id');
    t.string('label', 64).notNullable();
    t.text('body').nullable();
    t.binary('blob').nullable();
    t.bigInteger('n').notNullable().defaultTo(7);
  });
});

afterAll(async () => {
  await h.close();
});

beforeEach(async () => {
  await db('stmt_probe').delete();
});

const read = async () =>
  (await db('stmt_probe').orderBy('id').select('label', 'body', 'blob', 'n')) as {
    label: string;
    body: string | null;
    blob: Buffer | null;
    n: number | string;
  }[];

test('hostile values and every byte value go in bound and come back unchanged, in a batch transaction', async () => {
  const rows = HOSTILE.map((body, i) => ({ label: `row${i}`, body, blob: ALL_BYTES, n: 2 ** 40 + i }));
  await h.services.store.batchTransaction(async (tx) => {
    await tx.run([insertRows(tx.q, 'stmt_probe', rows)]);
  });
  const back = await read();
  expect(back.map((r) => r.body)).toEqual(HOSTILE);
  for (const r of back) expect(Buffer.compare(Buffer.from(r.blob!), ALL_BYTES)).toBe(0);
  expect(back.map((r) => Number(r.n))).toEqual(rows.map((r) => r.n));
  expect(await db.schema.hasTable('stmt_probe')).toBe(true);
});

test('on MySQL uniform rows become one plain multi-row INSERT; elsewhere the builder is used', () => {
  const stmt = insertRows(db, 'stmt_probe', [
    { label: 'a', body: 'x' },
    { label: 'b', body: 'y?' },
  ]);
  if (h.backend === 'mysql') {
    expect(stmt).toBeInstanceOf(Sql);
    expect((stmt as Sql).sql).toBe('insert into `stmt_probe` (`label`, `body`) values (?, ?), (?, ?)');
    expect((stmt as Sql).bindings).toEqual(['a', 'x', 'b', 'y?']);
  } else {
    expect(stmt).not.toBeInstanceOf(Sql);
    expect(mysqlInsert(db, 'stmt_probe', [{ label: 'a' }])).toBeNull();
  }
});

test('rows with different columns, another order or an undefined value go through the builder (gaps take the column default)', async () => {
  const uneven = [{ label: 'only-label' }, { label: 'with-body', body: 'b0' }];
  const reordered = [
    { label: 'first', body: 'b1' },
    { body: 'b2', label: 'second' },
  ];
  const undef = [{ label: 'undef', body: undefined, n: 9 }];
  expect(mysqlInsert(db, 'stmt_probe', uneven)).toBeNull();
  expect(mysqlInsert(db, 'stmt_probe', reordered)).toBeNull();
  expect(mysqlInsert(db, 'stmt_probe', undef)).toBeNull();
  await runInTurn([insertRows(db, 'stmt_probe', uneven), insertRows(db, 'stmt_probe', reordered), insertRows(db, 'stmt_probe', undef)]);
  const back = await read();
  expect(back.map((r) => [r.label, r.body, Number(r.n)])).toEqual([
    ['only-label', null, 7],
    ['with-body', 'b0', 7],
    ['first', 'b1', 7],
    ['second', 'b2', 7],
    ['undef', null, 9],
  ]);
});

test('plain statements run joined outside a transaction and one by one, with their results in order', async () => {
  const ins = insertRows(db, 'stmt_probe', [{ label: 'one', body: 'a ? b' }]);
  const sel = sql(db, 'select `label`, `body` from `stmt_probe` where `label` in (?, ?)', ['one', "x' or '1'='1"]);
  const [, rows] = (await h.services.store.runTogether([ins, sel])) as [unknown, { label: string; body: string }[]];
  expect(rows.map((r) => ({ ...r }))).toEqual([{ label: 'one', body: 'a ? b' }]);
  // One by one (the path events take outside a batch): the same statement kinds, the same effect.
  const [, again] = (await runInTurn([
    insertRows(db, 'stmt_probe', [{ label: 'two', body: '?' }]),
    sql(db, 'select count(*) as `n` from `stmt_probe`', []),
  ])) as [unknown, { n: number }[]];
  expect(Number(again[0].n)).toBe(2);
});

test('updateByCase: a column every row sets alike is one plain SET, the others a CASE per row, and each row gets its own values', async () => {
  await db('stmt_probe').insert([
    { label: 'a', body: 'old', n: 1 },
    { label: 'b', body: 'old', n: 1 },
    { label: 'c', body: 'untouched', n: 1 },
  ]);
  const ids = ((await db('stmt_probe').orderBy('id').select('id')) as { id: number }[]).map((r) => Number(r.id));
  const stmt = updateByCase(
    db,
    'stmt_probe',
    [
      // label: alike in both rows; body: different; blob: alike but a Buffer (compared by identity, so a CASE).
      { id: ids[0], values: { label: 'same', body: 'first', blob: Buffer.from('x') } },
      { id: ids[1], values: { label: 'same', body: null, blob: Buffer.from('x') } },
    ],
    { n: 5 },
  );
  const text = stmt.toSQL().sql;
  expect(text).toMatch(/SET `label` = \?, `body` = CASE `id` WHEN \? THEN \? WHEN \? THEN \? ELSE `body` END, `blob` = CASE/);
  await h.services.store.batchTransaction(async (tx) => {
    await tx.run([
      updateByCase(
        tx.q,
        'stmt_probe',
        [
          { id: ids[0], values: { label: 'same', body: 'first' } },
          { id: ids[1], values: { label: 'same', body: null } },
        ],
        { n: 5 },
      ),
    ]);
  });
  expect((await read()).map((r) => [r.label, r.body, Number(r.n)])).toEqual([
    ['same', 'first', 5],
    ['same', null, 5],
    ['c', 'untouched', 1],
  ]);
});

test('a failing statement in a batch transaction rolls back everything before it', async () => {
  // The rejection is checked by its message, not with toThrow: better-sqlite3's native addon keeps the error class
  // of the first test file loaded in a jest worker, so later files receive errors from another realm, which
  // toThrow does not count as errors.
  const failure = await h.services.store
    .batchTransaction(async (tx) => {
      tx.later([insertRows(tx.q, 'stmt_probe', [{ label: 'kept?', body: 'no' }])]);
      await tx.run([sql(tx.q, 'insert into `stmt_probe` (`label`, `nope`) values (?, ?)', ['bad', 1])]);
    })
    .then(
      () => null,
      (err: { message?: unknown }) => err,
    );
  expect(failure).not.toBeNull();
  expect(String(failure?.message)).toMatch(/nope/);
  expect(await read()).toEqual([]);
});

test('a big multi-row INSERT goes as a prepared statement (binary protocol): every value comes back unchanged, in order with the statements around it', async () => {
  // 200 rows with 1 KiB blobs (2 KiB each as hex text): over the batch pool's threshold for the binary protocol
  // (src/store/batch-pool.ts).
  const blob = Buffer.concat([ALL_BYTES, ALL_BYTES, ALL_BYTES, ALL_BYTES]);
  const rows = Array.from({ length: 200 }, (_, i) => ({
    label: `big${i}`,
    body: HOSTILE[i % HOSTILE.length] + ' ' + 'é'.repeat(i),
    blob: i % 3 ? blob : null,
    n: 1_796_000_000_000 + i,
  }));
  const my = h.backend === 'mysql';
  const out = await h.services.store.batchTransaction((tx) => {
    const big = insertRows(tx.q, 'stmt_probe', rows);
    if (my) expect((big as Sql).scalarValues).toBe(true);
    const executed = sql(tx.q, 'show session status like ?', ['Com_stmt_execute']);
    const counted = () => sql(tx.q, 'select count(*) as `n` from `stmt_probe`', []);
    const small = insertRows(tx.q, 'stmt_probe', [{ label: 'small', body: null }]);
    // On MySQL the session's Com_stmt_execute counter brackets the insert (SQLite has no such counter: a count instead).
    return tx.run([my ? executed : counted(), counted(), big, counted(), my ? executed : counted(), small]);
  });
  const count = (r: unknown) => Number((r as { n: number }[])[0].n);
  expect([count(out[1]), count(out[3])]).toEqual([0, 200]);
  if (my) {
    // The same connection's own counter: the insert was executed as a prepared statement, not sent as SQL text.
    const executed = (r: unknown) => Number((r as { Value: string }[])[0].Value);
    expect(executed(out[4]) - executed(out[0])).toBe(1);
  }
  const back = await read();
  expect(back.map((r) => r.label)).toEqual([...rows.map((r) => r.label), 'small']);
  expect(back.slice(0, 200).map((r) => r.body)).toEqual(rows.map((r) => r.body));
  expect(back.slice(0, 200).map((r) => Number(r.n))).toEqual(rows.map((r) => r.n));
  back.slice(0, 200).forEach((r, i) => (i % 3 ? expect(Buffer.compare(Buffer.from(r.blob!), blob)).toBe(0) : expect(r.blob).toBeNull()));
});

test('a failing prepared INSERT in a batch transaction rolls back everything before it', async () => {
  const rows = Array.from({ length: 300 }, (_, i) => ({ label: i === 299 ? 'x'.repeat(65) : `r${i}`, body: 'b'.repeat(1024), n: i }));
  const failure = await h.services.store
    .batchTransaction(async (tx) => {
      await tx.run([insertRows(tx.q, 'stmt_probe', [{ label: 'first', body: 'kept?' }])]);
      await tx.run([insertRows(tx.q, 'stmt_probe', rows)]);
    })
    .then(
      () => null,
      (err: { message?: unknown }) => err,
    );
  if (h.backend === 'mysql') {
    expect(String(failure?.message)).toMatch(/too long|label/i);
    expect(await read()).toEqual([]);
  } else {
    // SQLite does not enforce the column length: both inserts stand.
    expect(failure).toBeNull();
  }
});

test('a prepared INSERT that gets no answer within DB_QUERY_TIMEOUT_MS fails as a timeout (mysql2 ignores the timeout for execute), and the store goes on', async () => {
  if (h.backend !== 'mysql') return; // SQLite runs in-process: there is no answer to wait for.
  // Another transaction holds the key the insert needs, so the insert waits on its lock well past the timeout.
  const holder = await db.transaction();
  try {
    await holder('stmt_probe').insert({ id: 1_000_000, label: 'held' });
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: 1_000_000 - 299 + i, label: `w${i}`, body: 'x'.repeat(1024), n: i }));
    const started = Date.now();
    const failure = await h.services.store
      .batchTransaction((tx) => tx.run([insertRows(tx.q, 'stmt_probe', rows)]))
      .then(
        () => null,
        (err: { code?: string; message?: string }) => err,
      );
    expect(failure).toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT', message: 'the database did not answer within 1000 ms' });
    // Without the fix the insert waits out the row lock (innodb_lock_wait_timeout, 50 s by default), so 10 s still
    // tells the two apart and leaves a loaded machine room past the 1 s timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    await holder.rollback();
  }
  await h.services.store.batchTransaction((tx) => tx.run([insertRows(tx.q, 'stmt_probe', [{ label: 'after', body: null }])]));
  expect((await read()).map((r) => r.label)).toEqual(['after']);
});

test('a statement that outlives DB_QUERY_TIMEOUT_MS is stopped on the server too, not only given up by the client', async () => {
  if (h.backend !== 'mysql') return; // SQLite runs in-process: nothing runs on after the caller.
  const running = async () => Number((await db.raw("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info = 'SELECT SLEEP(7.25)'"))[0][0].n);
  const failure = await db.raw('SELECT SLEEP(7.25)').then(
    () => null,
    (err: { code?: string }) => err,
  );
  expect(failure).toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
  // Without the kill the server sleeps on for the 6 s left, its connection closed or not.
  const deadline = Date.now() + 3000;
  while ((await running()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await running()).toBe(0);
});

test('a statement in a transaction, a nested one too, is bounded by DB_QUERY_TIMEOUT_MS: the transaction rolls back with the timeout as its error', async () => {
  if (h.backend !== 'mysql') return; // SQLite runs in-process: there is no answer to wait for.
  const started = Date.now();
  const failure = await db
    .transaction(async (trx) => {
      await trx('stmt_probe').insert({ label: 'rolled back' });
      await trx.transaction((inner) => inner.raw('SELECT SLEEP(5.5)'));
    })
    .then(
      () => null,
      (err: { code?: string }) => err,
    );
  // Without the fix the sleep runs its 5.5 s inside the transaction and the insert commits.
  expect(failure).toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
  expect(Date.now() - started).toBeLessThan(4000);
  expect(await read()).toEqual([]);
});
