import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { shownStatus } from '../../src/delivery/leased';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { relayEnv } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { startTarpit, Tarpit } from '../helpers/tarpit';

/**
 * A next hop that answers one byte at a time (never idle long enough for socketTimeout) cannot hold a delivery for
 * ever: the attempt ends by half its lease, is deferred and frees its slot. Two such sends held both slots of a
 * worker with DELIVERY_CONCURRENCY=2 for good, so nothing else was delivered.
 */
let h: Harness;
let pit: Tarpit;
let worker: DeliveryWorker;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  pit = await startTarpit((rcpt) => rcpt.endsWith('@tarpit.test'));
  h = await startHarness({
    ...relayEnv(pit.port),
    DELIVERY_CONCURRENCY: '2',
    // Half of it (1.5 s) is the attempt's deadline: long enough for a loaded machine to reach RCPT first.
    LEASE_SECONDS: '3',
    SWEEP_GRACE_SECONDS: '0',
    SWEEP_INTERVAL_MS: '100',
    RETRY_SCHEDULE_MS: '60000', // the tarpit's deferrals do not come back within the test
  });
  worker = createDeliveryWorker(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await pit.close();
});

async function send(to: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'hi', ContentType: 'plain', PlainContent: 'body', From: { name: 'Shop', email: `orders@${s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

const row = (id: string) => h.services.db('deliveries').where({ message_id: id }).first();

it('defers a send to a trickling server by half its lease, so the next message gets the slot and is delivered', async () => {
  const slow = [await send('a@tarpit.test'), await send('b@tarpit.test')];
  await waitFor(() => pit.rcpts.length >= 2, 15000, 'both tarpit sends in RCPT');
  const ok = await send('c@ok.test');
  await waitFor(async () => (await row(ok))?.status === 'delivered', 6000, 'the other message delivered');
  expect(pit.delivered).toEqual(['c@ok.test']);
  for (const id of slow) {
    await waitFor(async () => shownStatus((await row(id)) ?? { status: '' }) !== 'sending', 3000, 'the tarpit send settled');
    const r = await row(id);
    expect(r.status).toBe('deferred');
    expect(r.last_reply).toMatch(/ETIMEDOUT .*time ran out/);
    expect(Number(r.attempts)).toBe(1);
  }
  // Each tarpit send was tried once, not again by a stale attempt; their sessions were closed.
  expect(pit.rcpts.filter((r) => r.endsWith('@tarpit.test')).sort()).toEqual(['a@tarpit.test', 'b@tarpit.test']);
  await waitFor(() => pit.open <= 1, 2000, 'the tarpit sessions closed');
});
