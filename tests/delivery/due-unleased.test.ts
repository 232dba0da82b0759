/**
 * The sweeper's read of due, unleased deliveries (src/delivery/due-unleased.ts) on the real store: every pending
 * status, longest due first across them, a live lease or a future time left out, and the limit kept.
 */
import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { dueUnleased } from '../../src/delivery/due-unleased';

let h: Harness;
let messageId: string;
let userId: number;
let domainId: number;

beforeAll(async () => {
  h = await startHarness();
  const u = await createUser(h);
  userId = u.userId;
  domainId = await addDomain(h, u.sessionId, uniqueDomain('sweep'));
  messageId = crypto.randomUUID();
  await h.services.db('messages').insert({
    id: messageId,
    user_id: userId,
    domain_id: domainId,
    source: 'api',
    from_email: 'app@sweep.test',
    subject: 'Sweep',
    tags: '[]',
    message_id_header: `<${messageId}@sweep.test>`,
    mime: Buffer.from('Subject: x\r\n\r\ny\r\n'),
    mime_size: 17,
    created_at: Date.now(),
  });
});
afterAll(() => h.close());

/** One delivery row; its recipient names it, so a failure says which. */
async function delivery(name: string, status: string, nextAttemptAt: number, leaseUntil = 0): Promise<void> {
  await h.services.db('deliveries').insert({
    message_id: messageId,
    user_id: userId,
    domain_id: domainId,
    recipient: `${name}@inbox.test`,
    recipient_domain: 'inbox.test',
    kind: 'to',
    status,
    attempts: status === 'deferred' ? 1 : 0,
    next_attempt_at: nextAttemptAt,
    lease_until: leaseUntil,
    created_at: nextAttemptAt,
    updated_at: nextAttemptAt,
  });
}

it('takes every pending status, longest due first across them, and leaves out live leases, future times and finished rows', async () => {
  // Long ago, so no row another part of the harness writes is due by `before`.
  const t0 = 1_000_000;
  const before = t0 + 1000;
  await delivery('scheduled', 'scheduled', t0 + 4);
  await delivery('queued', 'queued', t0 + 2);
  await delivery('sending-lease-ran-out', 'sending', t0 + 3, before - 1);
  await delivery('deferred', 'deferred', t0 + 1);
  await delivery('sending-leased', 'sending', t0, before + 60_000);
  await delivery('queued-later', 'queued', before + 1);
  await delivery('delivered', 'delivered', t0);
  await delivery('held', 'held', t0);
  const names = async (limit: number) => {
    const ids = (await dueUnleased(h.services.db, before, limit)).map((r) => Number(r.id));
    const rows: { id: number; recipient: string }[] = await h.services.db('deliveries').whereIn('id', ids).select('id', 'recipient');
    const byId = new Map(rows.map((r) => [Number(r.id), r.recipient.split('@')[0]]));
    return ids.map((id) => byId.get(id));
  };
  expect(await names(10)).toEqual(['deferred', 'queued', 'sending-lease-ran-out', 'scheduled']);
  expect(await names(2)).toEqual(['deferred', 'queued']);
});
