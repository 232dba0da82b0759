/**
 * Mail accepted before its account was disabled (by the admin) or its domain (by its owner) is not sent while it stays
 * so: it waits, no attempt counted, says why, goes out once switched on again, and fails past DELIVERY_MAX_AGE as any
 * mail does. Before, the worker looked only for a suspension, so a tenant disabled for abuse had its queued,
 * deferred and scheduled mail (SendAt up to 30 days ahead) delivered, DKIM-signed, for days.
 */
import supertest from 'supertest';
import { markRecordsVerified, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
let short: RelayRig;
beforeAll(async () => {
  [rig, short] = await Promise.all([startRelayRig(), startRelayRig({ DELIVERY_MAX_AGE_MS: '4000' })]);
});
afterAll(async () => {
  await Promise.all([rig.close(), short.close()]);
});

/** A message due in a second (so the switch lands before its first lease). */
async function scheduled(r: RelayRig, to: string, s = r.s): Promise<string> {
  const res = await supertest(r.h.app)
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${s.key}`)
    .send({
      Subject: 'later',
      ContentType: 'plain',
      PlainContent: 'body',
      SendAt: Math.floor(Date.now() / 1000) + 1,
      From: { name: '', email: `app@${s.domain}` },
      To: [{ name: '', email: to }],
    });
  expect(res.body.MessageID).toEqual(expect.any(String));
  return res.body.MessageID;
}

const row = (r: RelayRig, id: string) => r.h.services.db('deliveries').where({ message_id: id }).first('status', 'attempts', 'last_reply');
const arrived = (r: RelayRig, to: string) => r.sink.received.filter((m) => m.to.includes(to)).length;

async function waitsWhileOff(r: RelayRig, id: string, to: string, reason: string): Promise<void> {
  await waitFor(async () => (await row(r, id)).last_reply === `not sent: ${reason}`, 15000, 'the worker to look at it');
  expect(await row(r, id)).toEqual({ status: 'queued', attempts: 0, last_reply: `not sent: ${reason}` });
  // Looked at again (the retry schedule's steps are 1 s here) and still not sent.
  await new Promise((res) => setTimeout(res, 2500));
  expect(arrived(r, to)).toBe(0);
  expect((await row(r, id)).attempts).toBe(0);
}

test('a disabled account: its mail waits, then goes once the admin enables it again', async () => {
  const id = await scheduled(rig, 'account@dest.test');
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: rig.s.userId, AccountStatus: 'Disabled' });
  await waitsWhileOff(rig, id, 'account@dest.test', 'the sender account is disabled');
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: rig.s.userId, AccountStatus: 'Enabled' });
  await waitFor(async () => (await row(rig, id)).status === 'delivered', 15000, 'delivered once enabled');
  expect(arrived(rig, 'account@dest.test')).toBe(1);
});

test('a domain its owner disabled: its mail waits, then goes once enabled again', async () => {
  const s = await senderSetup(rig.h);
  const id = await scheduled(rig, 'domain@dest.test', s);
  const off = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Disabled' });
  expect(off.Success).toBe(true);
  await waitsWhileOff(rig, id, 'domain@dest.test', 'the sender domain is disabled');
  await markRecordsVerified(rig.h, s.domainId);
  const on = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Enabled' });
  expect(on.Success).toBe(true);
  await waitFor(async () => (await row(rig, id)).status === 'delivered', 15000, 'delivered once enabled');
  expect(arrived(rig, 'domain@dest.test')).toBe(1);
});

test('mail of an account that stays disabled fails past DELIVERY_MAX_AGE, never sent', async () => {
  const id = await scheduled(short, 'never@dest.test');
  await short.h.call({ Command: 'user.update', AdminAPIKey: short.h.adminKey, UserID: short.s.userId, AccountStatus: 'Disabled' });
  await waitFor(async () => (await row(short, id)).status === 'failed', 20000, 'failed once too old');
  expect(await row(short, id)).toEqual({ status: 'failed', attempts: 0, last_reply: 'not sent: the sender account is disabled' });
  const events = await short.h.services.db('events').where({ message_id: id }).pluck('type');
  expect(events).toContain('failed');
  expect(arrived(short, 'never@dest.test')).toBe(0);
});
