import type { Stmt } from '../../src/db';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/**
 * A lease round trip whose answer is lost after its UPDATE committed (a statement timeout on a busy server) left the
 * rows stamped and leased to the worker for LEASE_SECONDS with no one sending them. The worker asks again with the
 * same stamp and sends them at once, each exactly once.
 */
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(async () => {
  await rig.close();
});

it('delivers at once, and once, the rows of a lease whose answer was lost after the UPDATE committed', async () => {
  const { h, s, sink } = rig;
  const store = h.services.store;
  const runTogether = store.runTogether.bind(store);
  let lost = 0;
  // The statements run (the UPDATE commits), then the answer is lost as mysql2 reports a statement timeout.
  store.runTogether = async (stmts: Stmt[]) => {
    const results = await runTogether(stmts);
    if (lost === 0 && /^update `deliveries` set `lease_owner`/.test(String((stmts[0].toSQL() as { sql: string }).sql))) {
      lost += 1;
      throw Object.assign(new Error('the database did not answer within 3000 ms'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
    }
    return results;
  };
  try {
    const res = await h.request('POST', '/api/v1/email/batch', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Messages: [1, 2, 3].map((i) => ({
          Subject: `lost answer ${i}`,
          ContentType: 'plain',
          PlainContent: `body ${i}`,
          From: { name: 'Shop', email: `orders@${s.domain}` },
          To: [{ name: '', email: `lost${i}@dest.test` }],
        })),
      },
    });
    expect(res.status).toBe(200);
    const ids: string[] = res.body.Results.map((r: { MessageID: string }) => r.MessageID);
    // LEASE_SECONDS is 300 here: without asking again these rows would wait minutes for the sweeper.
    await waitFor(
      async () => (await h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' }).count({ n: '*' }))[0].n == 3,
      10000,
      'all three delivered',
    );
    expect(lost).toBe(1);
    const got = sink.received.filter((r) => /^lost\d@dest\.test$/.test(r.to[0])).map((r) => r.to[0]);
    expect(got.sort()).toEqual(['lost1@dest.test', 'lost2@dest.test', 'lost3@dest.test']);
    const attempts = await h.services.db('deliveries').whereIn('message_id', ids).select('attempts');
    expect(attempts.map((r: { attempts: number }) => Number(r.attempts))).toEqual([1, 1, 1]);
  } finally {
    store.runTogether = runTogether;
  }
});
