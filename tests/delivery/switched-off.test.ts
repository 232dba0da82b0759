/**
 * Mail accepted before its account was disabled (by the admin) or its domain (by its owner) is not sent while it stays
 * so: it is held (no attempt counted, not leased again), says why, goes out once switched on again, and fails past
 * DELIVERY_MAX_AGE as any mail does. Before, the worker looked only for a suspension, so a tenant disabled for abuse
 * had its queued, deferred and scheduled mail (SendAt up to 30 days ahead) delivered, DKIM-signed, for days; then
 * its backlog went back to waiting and was leased again every 15 minutes, a lease per delivery, for two days.
 *
 * The tests run concurrently (most of each is waiting on the worker, the sweeper and DELIVERY_MAX_AGE: 45 s a project
 * one after another, ~25 s so), so each has its own sender and recipient, and none asserts on another's rows. The first
 * has a rig of its own (`alone`): its metric check counts every hold of the install, so no other test's may be there.
 */
import { markRecordsVerified, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { metric } from '../helpers/prom';
import { waitFor } from '../helpers/sink';

let alone: RelayRig;
let rig: RelayRig;
let short: RelayRig;
beforeAll(async () => {
  [alone, rig, short] = await Promise.all([startRelayRig(), startRelayRig(), startRelayRig({ DELIVERY_MAX_AGE_MS: '4000' })]);
});
afterAll(async () => {
  await Promise.all([alone.close(), rig.close(), short.close()]);
});

/** A message due in 1–2 s (SendAt is in whole seconds: "+1" could be due at once, before the switch landed). */
async function scheduled(r: RelayRig, to: string, s = r.s): Promise<string> {
  const res = await r.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'later',
      ContentType: 'plain',
      PlainContent: 'body',
      SendAt: Math.floor(Date.now() / 1000) + 2,
      From: { name: '', email: `app@${s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  expect(res.body.MessageID).toEqual(expect.any(String));
  return res.body.MessageID;
}

const row = (r: RelayRig, id: string) => r.h.services.db('deliveries').where({ message_id: id }).first('status', 'attempts', 'last_reply');
const arrived = (r: RelayRig, to: string) => r.sink.received.filter((m) => m.to.includes(to)).length;

/** The owner switches the domain off (user.senderdomain.update Status=Disabled). */
async function disableDomain(r: RelayRig, s: { sessionId: string; domainId: number }): Promise<void> {
  expect((await r.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Disabled' })).Success).toBe(true);
}

const held = (r: RelayRig, id: string) => r.h.services.db('deliveries').where({ message_id: id }).first('status', 'held_by', 'updated_at');

async function heldWhileOff(r: RelayRig, id: string, to: string, reason: string): Promise<{ status: string; held_by: string; updated_at: number }> {
  await waitFor(async () => (await row(r, id)).last_reply === `not sent: ${reason}`, 15000, 'the worker to look at it');
  expect(await row(r, id)).toEqual({ status: 'held', attempts: 0, last_reply: `not sent: ${reason}` });
  const before = await held(r, id);
  expect(before.held_by).toBe('disabled');
  // Not leased again (the retry schedule's steps and the sweeps are 1 s here): the row is not touched, nothing sent.
  await new Promise((res) => setTimeout(res, 2500));
  expect(await held(r, id)).toEqual(before);
  expect(arrived(r, to)).toBe(0);
  return before;
}

// On its own rig, beside the others (it used to run before them, 4-5 s alone): its metric check counts every hold of
// the install, and no other test's is there.
test.concurrent('a disabled account: its mail waits, then goes once the admin enables it again', async () => {
  const id = await scheduled(alone, 'account@dest.test');
  await alone.h.call({ Command: 'user.update', AdminAPIKey: alone.h.adminKey, UserID: alone.s.userId, AccountStatus: 'Disabled' });
  await heldWhileOff(alone, id, 'account@dest.test', 'the sender account is disabled');
  // The admin sees why, and when it fails unless switched on (its first due time plus DELIVERY_MAX_AGE, 2 days).
  const listed = await alone.h.call({ Command: 'queue.list', AdminAPIKey: alone.h.adminKey, UserID: alone.s.userId, State: 'held' });
  const entry = listed.Deliveries.find((d: { MessageID: string }) => d.MessageID === id);
  expect(entry).toMatchObject({ HeldBy: 'disabled', HeldFrom: 'queued', LastReply: 'not sent: the sender account is disabled' });
  expect(Math.abs(entry.NextAttemptAt - (Date.now() / 1000 + 172800))).toBeLessThan(30);
  // The metric counts these holds apart from queue.hold's (its figures are cached for up to 2 s).
  await waitFor(
    async () => metric((await alone.h.request('GET', '/metrics')).text, 'postern_queue_depth', { state: 'held_disabled' }) >= 1,
    5000,
    'the metric',
  );
  expect(metric((await alone.h.request('GET', '/metrics')).text, 'postern_queue_depth', { state: 'held' })).toBe(0);
  await alone.h.call({ Command: 'user.update', AdminAPIKey: alone.h.adminKey, UserID: alone.s.userId, AccountStatus: 'Enabled' });
  await waitFor(async () => (await row(alone, id)).status === 'delivered', 15000, 'delivered once enabled');
  expect(arrived(alone, 'account@dest.test')).toBe(1);
});

test.concurrent('a domain its owner disabled: its mail waits, then goes once enabled again', async () => {
  const s = await senderSetup(rig.h);
  const id = await scheduled(rig, 'domain@dest.test', s);
  const off = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Disabled' });
  expect(off.Success).toBe(true);
  await heldWhileOff(rig, id, 'domain@dest.test', 'the sender domain is disabled');
  await markRecordsVerified(rig.h, s.domainId);
  const on = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Enabled' });
  expect(on.Success).toBe(true);
  await waitFor(async () => (await row(rig, id)).status === 'delivered', 15000, 'delivered once enabled');
  expect(arrived(rig, 'domain@dest.test')).toBe(1);
});

test.concurrent('mail of an account that stays disabled fails past DELIVERY_MAX_AGE, never sent', async () => {
  const id = await scheduled(short, 'never@dest.test');
  await short.h.call({ Command: 'user.update', AdminAPIKey: short.h.adminKey, UserID: short.s.userId, AccountStatus: 'Disabled' });
  await waitFor(async () => (await row(short, id)).status === 'failed', 20000, 'failed once too old');
  expect(await row(short, id)).toEqual({ status: 'failed', attempts: 0, last_reply: 'not sent: the sender account is disabled' });
  const events = await short.h.services.db('events').where({ message_id: id }).pluck('type');
  expect(events).toContain('failed');
  expect(arrived(short, 'never@dest.test')).toBe(0);
});

test.concurrent('mail of a domain that stays disabled fails past DELIVERY_MAX_AGE, never sent', async () => {
  const s = await senderSetup(short.h);
  const id = await scheduled(short, 'domain-never@dest.test', s);
  await disableDomain(short, s);
  await waitFor(async () => (await row(short, id)).status === 'failed', 20000, 'failed once too old');
  expect(await row(short, id)).toEqual({ status: 'failed', attempts: 0, last_reply: 'not sent: the sender domain is disabled' });
  expect(arrived(short, 'domain-never@dest.test')).toBe(0);
});

test.concurrent('an account and its domain both off: its mail fails once past DELIVERY_MAX_AGE (one failed event)', async () => {
  const s = await senderSetup(short.h);
  const id = await scheduled(short, 'both-never@dest.test', s);
  await disableDomain(short, s);
  await short.h.call({ Command: 'user.update', AdminAPIKey: short.h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
  await waitFor(async () => (await row(short, id)).status === 'failed', 20000, 'failed once too old');
  await new Promise((res) => setTimeout(res, 1500)); // a second sweep, which must not fail it again
  const events = await short.h.services.db('events').where({ message_id: id }).pluck('type');
  expect(events.filter((t: string) => t === 'failed')).toHaveLength(1);
});

test.concurrent('switched on with no trace of it (no updated_at): its held mail fails at its time, never held for ever', async () => {
  const s = await senderSetup(short.h);
  const id = await scheduled(short, 'traceless@dest.test', s);
  await short.h.call({ Command: 'user.update', AdminAPIKey: short.h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
  await waitFor(async () => (await row(short, id)).status === 'held', 15000, 'held');
  // Neither a release nor the repair (it looks at changes of the last day) takes it; the expiry by held_at does.
  await short.h.services
    .db('users')
    .where({ id: s.userId })
    .update({ account_status: 'Enabled', updated_at: Date.now() - 2 * 86_400_000 });
  await waitFor(async () => (await row(short, id)).status === 'failed', 20000, 'failed once too old');
  expect(arrived(short, 'traceless@dest.test')).toBe(0);
});

test.concurrent('an account enabled while its domain stays disabled: held until the domain is enabled too', async () => {
  const s = await senderSetup(rig.h);
  const id = await scheduled(rig, 'both@dest.test', s);
  await disableDomain(rig, s);
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
  const before = await heldWhileOff(rig, id, 'both@dest.test', 'the sender account is disabled');
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, AccountStatus: 'Enabled' });
  await new Promise((res) => setTimeout(res, 1500));
  // Not even released to be held again by the worker: the release checks both switches.
  expect(await held(rig, id)).toEqual(before);
  expect(arrived(rig, 'both@dest.test')).toBe(0);
  // Disabling the account ended its sessions: the owner signs in again to switch the domain on.
  const { username } = await rig.h.services.db('users').where({ id: s.userId }).first('username');
  const login = await rig.h.call({ Command: 'user.login', Username: username, Password: 'correct horse battery' });
  await markRecordsVerified(rig.h, s.domainId);
  const on = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: login.SessionID, DomainID: s.domainId, Status: 'Enabled' });
  expect(on.Success).toBe(true);
  await waitFor(async () => (await row(rig, id)).status === 'delivered', 15000, 'delivered once both are on');
  expect(arrived(rig, 'both@dest.test')).toBe(1);
});

test.concurrent("an account switched on behind the commands' back: the sweeper releases its held mail", async () => {
  const s = await senderSetup(rig.h);
  const id = await scheduled(rig, 'repair@dest.test', s);
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
  await heldWhileOff(rig, id, 'repair@dest.test', 'the sender account is disabled');
  // As a release lost with its process, or a hold committed after the release read (READ COMMITTED, a cluster): the
  // account is on (its change recorded in updated_at, as every switch-on records it) and its mail still held.
  await rig.h.services.db('users').where({ id: s.userId }).update({ account_status: 'Enabled', updated_at: Date.now() });
  await rig.worker.sweep(0);
  await waitFor(async () => (await row(rig, id)).status === 'delivered', 15000, 'delivered after the repair');
  expect(arrived(rig, 'repair@dest.test')).toBe(1);
});
