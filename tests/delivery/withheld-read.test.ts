/**
 * A body too big for its lease group is read on its own after the lease (lease-settle.ts, readWithheld). When that
 * read failed (a statement timeout: a multi-MB body read on a loaded server), the row stayed leased and unsent for
 * LEASE_SECONDS (300 s): the campaign it belonged to never completed. Now a lost answer is asked again, and a read
 * that keeps failing gives the lease back at once.
 */
import type { Stmt } from '../../src/db';
import { shownStatus } from '../../src/delivery/leased';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  // A 256 KiB share per delivery (1 MiB over 4), so the 400 KB body below is withheld from its lease group. A minute's
  // retry step: a delivery given back is not due again during the test unless it is made so.
  rig = await startRelayRig({
    DELIVERY_CONCURRENCY: '4',
    DELIVERY_MAX_BYTES_IN_FLIGHT: String(1 << 20),
    RETRY_SCHEDULE_SECONDS: '60',
    SWEEP_INTERVAL_SECONDS: '3600',
  });
});
afterAll(() => rig?.close());

/** The withheld body's read: its lease renewal, then its SELECT, in one round trip. */
const isWithheldRead = (stmts: Stmt[]) => /^update `deliveries` set `lease_until` = \?/.test(String(stmts[0]?.toSQL().sql));

/**
 * The next `times` withheld reads run, and then their answer is lost as in a statement timeout (the renewal may have
 * committed: the row may hold the new stamp or the old one).
 */
function loseAnswers(times: number): { lost: number; restore(): void } {
  const store = rig.h.services.store;
  const original = store.runTogether.bind(store);
  const state = {
    lost: 0,
    restore: () => {
      store.runTogether = original;
    },
  };
  store.runTogether = async (stmts) => {
    const out = await original(stmts);
    if (!isWithheldRead(stmts) || state.lost >= times) return out;
    state.lost += 1;
    throw Object.assign(new Error('the database did not answer within 3000 ms'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
  };
  return state;
}

async function send(to: string): Promise<number> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Big',
      ContentType: 'plain',
      PlainContent: 'x'.repeat(400_000),
      From: { name: '', email: `app@${rig.s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  expect(res.status).toBe(200);
  return Number((await rig.h.services.db('deliveries').where({ message_id: res.body.MessageID }).first()).id);
}

const row = (id: number) => rig.h.services.db('deliveries').where({ id }).first();

it('reads a withheld body again when the answer was lost, and sends it', async () => {
  const lose = loseAnswers(1);
  try {
    const id = await send('once@dest.test');
    await waitFor(() => rig.sink.received.some((m) => m.to[0] === 'once@dest.test'), 15_000, 'the message at the sink');
    expect(lose.lost).toBe(1);
    await waitFor(async () => (await row(id)).status === 'delivered', 10_000, 'the delivery recorded');
    expect(await row(id)).toMatchObject({ attempts: 1, lease_until: 0 });
  } finally {
    lose.restore();
  }
});

it('gives the lease back at once when the withheld body cannot be read, and sends it once due again', async () => {
  const lose = loseAnswers(Infinity);
  let id: number;
  try {
    const before = Date.now();
    id = await send('never@dest.test');
    // Not left 'sending' under a 300 s lease: back to queued, no attempt counted, due after the first retry step.
    await waitFor(async () => lose.lost > 0 && shownStatus(await row(id)) === 'queued', 15_000, 'the delivery given back');
    const back = await row(id);
    expect(back).toMatchObject({ attempts: 0, lease_until: 0 });
    expect(Number(back.next_attempt_at)).toBeGreaterThanOrEqual(before + 60_000);
    expect(rig.sink.received.some((m) => m.to[0] === 'never@dest.test')).toBe(false);
  } finally {
    lose.restore();
  }
  // Due now, and taken again: the read succeeds this time.
  await rig.h.services.db('deliveries').where({ id }).update({ next_attempt_at: Date.now() });
  await rig.worker.deliver(id);
  await waitFor(() => rig.sink.received.some((m) => m.to[0] === 'never@dest.test'), 15_000, 'the message at the sink');
  await waitFor(() => rig.worker.bytesInFlight().inUse === 0, 10_000, 'every budget hold given back');
});
