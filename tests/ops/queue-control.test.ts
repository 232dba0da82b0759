/**
 * Queue control (issue 17 §4) through the real doors: mail sent over /api/v1/email to a real SMTP sink that defers
 * one recipient domain, then listed, held, retried, released and purged over /api/v1/queue…, /api.php and the CLI;
 * the effects checked on the sink, the rows and the events. Tenancy: a user sees and moves only their own.
 */
import { Writable } from 'node:stream';
import { Installation, openInstallation } from '../../src/cli/installation';
import { Cli, runCli } from '../../src/cli/program';
import { senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';
import { metric } from '../helpers/prom';

let rig: RelayRig;
let other: Awaited<ReturnType<typeof senderSetup>>;
let inst: Installation | undefined;
const SLOW = 'slow.queue.test';

beforeAll(async () => {
  // Retries an hour apart: a deferred delivery stays deferred unless the test moves it. On the embedded store the
  // CLI's retry goes into its own in-process queue, so the gateway's sweeper is what picks the row up (as for an
  // operator's separate `postern` process): sweeps in milliseconds (1 s grace instead of 5 s) keep that from
  // costing about 11 s.
  rig = await startRelayRig({ RETRY_SCHEDULE_SECONDS: '3600', SWEEP_INTERVAL_MS: '200', SWEEP_GRACE_MS: '1000' });
  other = await senderSetup(rig.h);
  rig.sink.onRcpt = (address) => (address.endsWith(`@${SLOW}`) ? smtpError(451, '4.7.1 Try again later') : undefined);
});
afterAll(async () => {
  await inst?.close();
  await rig.close();
});

async function send(key: string, from: string, to: string): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${key}` },
    body: { Subject: 'queued', ContentType: 'plain', PlainContent: 'hello', From: { name: '', email: `a@${from}` }, To: [{ name: '', email: to }] },
  });
  expect(res.body).toEqual({ MessageID: expect.any(String) });
  return res.body.MessageID;
}

async function deliveryOf(messageId: string) {
  return rig.h.services.db('deliveries').where({ message_id: messageId }).first();
}

async function until(messageId: string, status: string) {
  await waitFor(async () => (await deliveryOf(messageId))?.status === status, 15000, `${messageId} ${status}`);
  return deliveryOf(messageId);
}

/** `postern …` in this process on the rig's installation. */
async function postern(...args: string[]): Promise<{ code: number; json: any; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (c, _e, done) => (add(String(c)), done()) });
  inst ??= await openInstallation(rig.h.env);
  const shared = inst;
  const c = new Cli({ env: rig.h.env, stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) }, async () => ({
    ...shared,
    close: async () => undefined,
  }));
  const code = await runCli(['node', 'postern', ...args], c, async () => undefined);
  return { code, json: stdout ? JSON.parse(stdout) : undefined, stderr };
}

describe('queue control', () => {
  let mine: string;
  let theirs: string;

  beforeAll(async () => {
    mine = await send(rig.s.key, rig.s.domain, `ann@${SLOW}`);
    theirs = await send(other.key, other.domain, `bob@${SLOW}`);
    await until(mine, 'deferred');
    await until(theirs, 'deferred');
  });

  it('lists deferred deliveries with the last reply and next attempt; a user sees only their own, the admin all', async () => {
    const own = await rig.h.request('GET', '/api/v1/queue', { query: { SessionID: rig.s.sessionId, RecipientDomain: SLOW } });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ Total: 1, Page: 1, Pages: 1 });
    const row = own.body.Deliveries[0];
    expect(row).toMatchObject({ MessageID: mine, Recipient: `ann@${SLOW}`, SenderDomain: rig.s.domain, State: 'deferred', Attempts: 1 });
    expect(row.LastReply).toMatch(/^451 4\.7\.1 Try again later/);
    expect(row.NextAttemptAt).toBeGreaterThan(Date.now() / 1000 + 3000);

    // Another user's domain matches nothing for this user, as a missing one would.
    const foreign = await rig.h.request('GET', '/api/v1/queue', { query: { SessionID: rig.s.sessionId, DomainID: other.domainId } });
    expect(foreign.body.Total).toBe(0);

    const all = await rig.h.request('GET', '/api/v1/queue', {
      headers: { Authorization: `Bearer ${rig.h.adminKey}` },
      query: { RecipientDomain: SLOW, Limit: 1 },
    });
    expect(all.body).toMatchObject({ Total: 2, Pages: 2 });
    const page2 = await rig.h.request('GET', '/api/v1/queue', {
      headers: { Authorization: `Bearer ${rig.h.adminKey}` },
      query: { RecipientDomain: SLOW, Limit: 1, Page: 2 },
    });
    expect([all.body.Deliveries[0].MessageID, page2.body.Deliveries[0].MessageID].sort()).toEqual([mine, theirs].sort());
    const bySender = await rig.h.request('GET', '/api/v1/queue', {
      headers: { Authorization: `Bearer ${rig.h.adminKey}` },
      query: { SenderDomain: other.domain },
    });
    expect(bySender.body.Deliveries.map((d: { MessageID: string }) => d.MessageID)).toEqual([theirs]);
    const young = await rig.h.request('GET', '/api/v1/queue', {
      headers: { Authorization: `Bearer ${rig.h.adminKey}` },
      query: { RecipientDomain: SLOW, MinAgeSeconds: 3600 },
    });
    expect(young.body.Total).toBe(0);
  });

  it('answers bad input and bad credentials in the v1 envelope', async () => {
    const noFilter = await rig.h.request('POST', '/api/v1/queue/retry', { body: { SessionID: rig.s.sessionId } });
    expect(noFilter.status).toBe(400);
    expect(noFilter.body.Errors[0]).toMatchObject({ Code: 7 });
    const badState = await rig.h.request('GET', '/api/v1/queue', { query: { SessionID: rig.s.sessionId, State: 'nope', RecipientDomain: 'a\r\nb' } });
    expect(badState.body.Errors.map((e: { Code: number }) => e.Code).sort()).toEqual([4, 9]);
    const notMine = await rig.h.request('POST', '/api/v1/queue/retry', { body: { SessionID: rig.s.sessionId, DeliveryID: (await deliveryOf(theirs)).id } });
    expect(notMine.status).toBe(404);
    expect(notMine.body.Errors[0]).toMatchObject({ Code: 8, Message: 'Delivery not found' });
    const anon = await rig.h.request('GET', '/api/v1/queue', { query: { AdminAPIKey: 'wrong' } });
    expect(anon.status).toBe(401);
    const legacy = await rig.h.call({ Command: 'queue.hold', SessionID: rig.s.sessionId });
    expect(legacy).toMatchObject({ Success: false, ErrorCode: [7] });
  });

  it('holds by recipient domain: a held delivery is not sent by a retry or the sweeper, and the held time does not age it', async () => {
    const held = await rig.h.request('POST', '/api/v1/queue/hold', { body: { SessionID: rig.s.sessionId, RecipientDomain: SLOW } });
    expect(held.body).toEqual({ Held: 1 });
    expect((await deliveryOf(theirs)).status).toBe('deferred'); // the other user's is not theirs to hold

    rig.sink.onRcpt = undefined; // the destination recovers
    const retried = await rig.h.request('POST', '/api/v1/queue/retry', { headers: { Authorization: `Bearer ${rig.h.adminKey}` }, body: { All: true } });
    expect(retried.body).toEqual({ Retried: 1 });
    await until(theirs, 'delivered');
    // The sweeper takes every due, unleased row it can see: the held one is not among them.
    await rig.worker.sweep(0);
    await new Promise((r) => setTimeout(r, 500));
    const still = await deliveryOf(mine);
    expect(still).toMatchObject({ status: 'held', held_from: 'deferred', attempts: 1 });
    expect(rig.sink.received.some((m) => m.to.includes(`ann@${SLOW}`))).toBe(false);
    const status = await rig.h.call({ Command: 'queue.status', AdminAPIKey: rig.h.adminKey });
    expect(status.Queue.Held).toBe(1);
    const scrape = await rig.h.request('GET', '/metrics');
    expect(metric(scrape.text, 'postern_queue_depth', { state: 'held' })).toBe(1);

    // Held for three days, accepted three days ago: past DELIVERY_MAX_AGE_SECONDS (2 days) unless held time is left out.
    const threeDays = 3 * 86400_000;
    await rig.h.services
      .db('deliveries')
      .where({ id: still.id })
      .update({ created_at: Date.now() - threeDays, held_at: Date.now() - threeDays + 60_000 });
    rig.sink.onRcpt = (address) => (address.endsWith(`@${SLOW}`) ? smtpError(451, '4.7.1 Try again later') : undefined);
    const released = await postern('queue', 'release', `RecipientDomain=${SLOW}`, '--user', String(rig.s.userId));
    expect(released).toMatchObject({ code: 0, json: { Released: 1 } });
    expect(Number((await deliveryOf(mine)).held_ms)).toBeGreaterThanOrEqual(threeDays - 60_000);
    // Due an hour from now (its planned retry): retry it now. Refused again, it is deferred, not failed as too old.
    expect(await postern('queue', 'retry', `DeliveryID=${still.id}`)).toMatchObject({ code: 0, json: { Retried: 1 } });
    await waitFor(async () => Number((await deliveryOf(mine)).attempts) === 2, 15000, 'second attempt');
    expect(await deliveryOf(mine)).toMatchObject({ status: 'deferred' });

    rig.sink.onRcpt = undefined;
    expect(await postern('queue', 'retry', `RecipientDomain=${SLOW}`, '--user', rig.s.userId.toString())).toMatchObject({ code: 0, json: { Retried: 1 } });
    await until(mine, 'delivered');
    expect(rig.sink.received.some((m) => m.to.includes(`ann@${SLOW}`))).toBe(true);
  });

  it("purges by filter from the CLI, with a failed event each; a user cannot purge another user's mail", async () => {
    rig.sink.onRcpt = (address) => (address.endsWith(`@${SLOW}`) ? smtpError(451, '4.7.1 Try again later') : undefined);
    const a = await send(rig.s.key, rig.s.domain, `cy@${SLOW}`);
    const b = await send(other.key, other.domain, `dee@${SLOW}`);
    await until(a, 'deferred');
    await until(b, 'deferred');

    const listed = await postern('queue', 'list', `RecipientDomain=${SLOW}`);
    expect(listed.code).toBe(0);
    expect(listed.json.Deliveries.map((d: { MessageID: string }) => d.MessageID).sort()).toEqual([a, b].sort());

    const asUser = await postern('queue', 'purge', `SenderDomain=${other.domain}`, '--user', String(rig.s.userId));
    expect(asUser.json).toEqual({ Purged: 0 });
    const none = await postern('queue', 'purge');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/queue\.purge failed: 7 Name the deliveries/);

    const purged = await postern('queue', 'purge', `RecipientDomain=${SLOW}`);
    expect(purged.json).toEqual({ Purged: 2 });
    for (const id of [a, b]) {
      expect(await deliveryOf(id)).toMatchObject({ status: 'failed', last_reply: 'purged from the queue by the admin' });
      const events = await rig.h.services.db('events').where({ message_id: id, type: 'failed' });
      expect(events).toHaveLength(1);
      expect(JSON.parse(events[0].data)).toMatchObject({ purged: true });
    }
    const msg = await rig.h.request('GET', `/api/v1/email/${a}`, { headers: { Authorization: `Bearer ${rig.s.key}` } });
    expect(msg.body.Status).toBe('failed');
  });
});
