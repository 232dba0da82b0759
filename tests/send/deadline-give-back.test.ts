import type { Knex } from 'knex';
import { shownStatus } from '../../src/delivery/leased';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/**
 * An attempt's SMTP deadline (half its lease) that passes before the message is written gives the delivery back:
 * SmtpPool.send fails with ETIMEDOUT (no reply code) while the session is still before DATA, or while the send waits
 * for a pooled session, and the worker defers it for a retry, nothing written; a deadline already past when the
 * worker reaches SMTP releases the lease with no attempt counted (send-attempt.ts). Once the stall ends, the retry
 * delivers it exactly once. With LEASE_SECONDS=4 each attempt has 2 s (1 s was too little for the retry's own send on
 * a slow, busy host: it timed out once, a second attempt counted); one pooled session to the smarthost.
 */
let rig: RelayRig;
/** The last test's own worker, whose reads of sender_domains can be stalled. */
let slowWorker: DeliveryWorker | undefined;
/** Every RCPT TO the smarthost was sent, in order, and the stall its reply waits for (if any). */
const rcpts: string[] = [];
/** When each of those RCPT TOs arrived (Date.now()). */
const rcptAt: number[] = [];
let stalls: (address: string) => Promise<void> | undefined = () => undefined;

beforeAll(async () => {
  rig = await startRelayRig({
    DELIVERY_CONCURRENCY: '2',
    SMTP_RELAY_MAX_CONNECTIONS: '1',
    LEASE_SECONDS: '4',
    // Long enough to look at the deferred row before its retry; the rig's 5 s sweep grace keeps the sweeper out.
    RETRY_SCHEDULE_MS: '1000',
  });
  rig.sink.rcptWait = (address) => {
    rcpts.push(address);
    rcptAt.push(Date.now());
    return stalls(address);
  };
});
afterAll(async () => {
  for (const open of opened) open(); // a failed test leaves no session held, so the rig closes
  await slowWorker?.stop();
  await rig.close();
});

async function send(to: string): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: { Subject: `to ${to}`, ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${rig.s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

const row = (id: string) => rig.h.services.db('deliveries').where({ message_id: id }).first();
const events = async (id: string) =>
  (await rig.h.services.db('events').where({ message_id: id }).orderBy('id')).map((e) => ({ type: e.type, reply: JSON.parse(e.data).smtp_reply }));
const copiesTo = (to: string) => rig.sink.received.filter((r) => r.to.includes(to)).length;

/** A gate the test opens: the stall's end. */
const opened: (() => void)[] = [];
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  opened.push(open);
  return { wait, open };
}

/** Delivered once, with each earlier attempt a deferral at the deadline, and nothing left for the sweeper to resend. */
async function expectDeliveredOnce(id: string, to: string, reply: RegExp): Promise<void> {
  await waitFor(async () => (await row(id))?.status === 'delivered', 20_000, `${to} delivered`);
  const r = await row(id);
  const evs = await events(id);
  expect(evs.map((e) => e.type)).toEqual(['queued', ...Array(Number(r.attempts) - 1).fill('deferred'), 'delivered']);
  for (const e of evs.filter((x) => x.type === 'deferred')) expect(e.reply).toMatch(reply);
  expect(await rig.worker.sweep(0)).toBe(0);
  expect(copiesTo(to)).toBe(1);
}

it('defers a send whose server stalls at RCPT past the deadline, nothing written, and delivers it once after the stall', async () => {
  const stall = gate();
  const to = 'stalled@dest.test';
  stalls = (address) => (address === to ? stall.wait : undefined);
  const id = await send(to);
  let r: any;
  await waitFor(async () => (r = await row(id))?.status === 'deferred', 10_000, 'the stalled send deferred');
  expect(r.last_reply).toMatch(/^ETIMEDOUT .*time ran out mid-session/);
  expect(Number(r.attempts)).toBe(1);
  expect(Number(r.lease_until)).toBe(0);
  expect((await events(id)).map((e) => e.type)).toEqual(['queued', 'deferred']);
  // It got as far as RCPT (its retry a second later, still stalled, may have too), and no DATA followed.
  expect(rcpts.length).toBeGreaterThanOrEqual(1);
  expect(rcpts.every((a) => a === to)).toBe(true);
  expect(copiesTo(to)).toBe(0);

  stalls = () => undefined;
  stall.open();
  await expectDeliveredOnce(id, to, /^ETIMEDOUT .*time ran out mid-session/);
});

it('defers a send that waits for the only pooled session past the deadline, nothing written, and delivers it once after', async () => {
  rcpts.length = rcptAt.length = 0;
  // The first message holds the one session past its own deadline: its body is written (cutting it then could
  // deliver it twice), and the smarthost withholds its reply to the final dot.
  const held = gate();
  let hogInData = false;
  rig.sink.beforeReply = async (to) => {
    if (!to.includes('hog@dest.test')) return undefined;
    hogInData = true;
    await held.wait;
    return undefined;
  };
  const hog = await send('hog@dest.test');
  await waitFor(() => hogInData, 10_000, 'the first message in DATA');
  const id = await send('waiter@dest.test');
  let r: any;
  await waitFor(async () => (r = await row(id))?.status === 'deferred', 10_000, 'the waiting send deferred');
  expect(r.last_reply).toMatch(/^ETIMEDOUT .*time ran out while waiting for a free session/);
  expect(Number(r.attempts)).toBe(1);
  expect((await events(id)).map((e) => e.type)).toEqual(['queued', 'deferred']);
  expect(rcpts).toEqual(['hog@dest.test']); // the waiter never reached the smarthost
  expect(rig.sink.maxOpen).toBe(1);

  rig.sink.beforeReply = undefined;
  held.open();
  await waitFor(async () => (await row(hog))?.status === 'delivered', 10_000, 'the first message delivered');
  expect(copiesTo('hog@dest.test')).toBe(1);
  await expectDeliveredOnce(id, 'waiter@dest.test', /^ETIMEDOUT .*time ran out while waiting for a free session/);
});

it('gives back a leased send whose deadline passed before it reached SMTP: no attempt counted, no event, delivered once', async () => {
  rcpts.length = rcptAt.length = 0;
  // The worker's read of the domain row stalls until the attempt's deadline is past (a slow database or DNS would do
  // the same); the only worker from here on is one whose database handle does that.
  for (const open of opened) open(); // a session an earlier test left held would keep the worker from stopping
  await rig.worker.stop();
  const real = rig.h.services.db;
  const stall = gate();
  let reached = false;
  const db = new Proxy(real, {
    apply(target, self, args: unknown[]) {
      if (args[0] !== 'sender_domains' || reached) return Reflect.apply(target, self, args);
      reached = true;
      return {
        where: (w: Record<string, unknown>) => ({ first: () => stall.wait.then(() => target('sender_domains').where(w).first()) }),
      };
    },
  }) as Knex;
  slowWorker = createDeliveryWorker({ ...rig.h.services, db });
  const to = 'late@dest.test';
  const id = await send(to);
  await waitFor(() => reached, 10_000, 'the domain read');
  const leased = await row(id);
  expect(shownStatus(leased)).toBe('sending');
  const leaseUntil = Number(leased.lease_until);
  await waitFor(() => Date.now() >= leaseUntil - 1000, 5000, 'past the attempt deadline (half the 4 s lease)');
  const openedAt = Date.now();
  stall.open();

  await waitFor(async () => (await row(id))?.status === 'delivered', 20_000, `${to} delivered`);
  const r = await row(id);
  // The given-back attempt is not counted: every counted attempt is the delivery or a deferral with its event (the
  // retry's own 2 s can run out on a loaded host, seen at load 11: a second counted attempt, deferred, then delivered).
  const evs = await real('events').where({ message_id: id }).orderBy('id');
  expect(evs.map((e) => e.type)).toEqual(['queued', ...Array(Number(r.attempts) - 1).fill('deferred'), 'delivered']);
  // …and none of those deferrals is the given-back attempt's: each comes from a retry, due a step (1 s) after it.
  for (const e of evs.filter((x) => x.type === 'deferred')) expect(Number(e.created_at)).toBeGreaterThanOrEqual(openedAt + 1000);
  // Given back once the stall ends (1 s before the lease's end), due again a retry step (1 s) later; a row left leased
  // instead would keep the next_attempt_at it was accepted with.
  expect(Number(r.next_attempt_at)).toBeGreaterThanOrEqual(leaseUntil);
  // The given-back attempt never reached the smarthost: every RCPT came from a retry, a step after the stall ended.
  expect(rcpts.every((a) => a === to)).toBe(true);
  expect(rcpts.length).toBeGreaterThanOrEqual(1);
  expect(rcpts.length).toBeLessThanOrEqual(Number(r.attempts));
  for (const at of rcptAt) expect(at).toBeGreaterThanOrEqual(openedAt + 1000);
  expect(await slowWorker.sweep(0)).toBe(0);
  expect(copiesTo(to)).toBe(1);
});
