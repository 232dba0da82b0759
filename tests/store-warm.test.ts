import type { Knex } from 'knex';
import { sql } from '../src/db';
import { warmAcceptGroups } from '../src/mail/accept-group';
import { backend, Harness, startHarness } from './helpers/harness';

/**
 * The api opens its accept group commits' connections at start (warmAcceptGroups, called by src/main.ts): the first sends
 * after a start-up then find them open instead of each waiting for a connection handshake and a settings read.
 * Counted on the server: connections to this test's database.
 */
let h: Harness;
let db: Knex;

beforeAll(async () => {
  h = await startHarness();
  db = h.services.db;
});
afterAll(async () => {
  await h.close();
});

const connections = async () => {
  const [rows] = await db.raw('select count(*) as n from information_schema.processlist where db = database()');
  return Number((rows as { n: number }[])[0].n);
};

(backend() === 'mysql' ? it : it.skip)('opens the batch connections before the first group commits, which then open none', async () => {
  const before = await connections();
  await warmAcceptGroups(h.services);
  expect(await connections()).toBe(before + 2);
  // Two group commits at once (the accept's two in flight) use the open connections.
  const one = () => h.services.store.batchTransaction((tx) => tx.commit([sql(tx.q, 'select 1', [])]));
  await Promise.all([one(), one()]);
  expect(await connections()).toBe(before + 2);
});
