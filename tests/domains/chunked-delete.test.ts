/**
 * Deleting a sender domain, or an account, with more history than a run (DELETE_CHUNK_ROWS, small here): everything
 * goes, the reply is as before, and no DELETE removes more than a run's rows (src/domains/purge.ts,
 * src/accounts/purge.ts), so each statement stays under DB_QUERY_TIMEOUT_MS however large the history.
 */
import { hourOf } from '../../src/stats/rollups';
import { addSuppression } from '../../src/suppression/suppressions';
import { deletesDuring, sizes } from '../helpers/delete-sizes';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { as, bulkSubscribers, makeField, makeList } from '../lists/fixtures';

const RUN = 7;
const MESSAGES = 12;
const SUPPRESSED = 20;
const EVENTS = 20;
/** Rows of each long table of statistics, domain events and webhook log written straight (older than the guard's day). */
const OLD = 15;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ DELETE_CHUNK_ROWS: String(RUN) });
});
afterAll(async () => {
  await h.close();
});

/** A sender with MESSAGES messages sent, SUPPRESSED suppressions (half of them kept on deletion) and EVENTS more events. */
async function senderWithHistory() {
  const s = await senderSetup(h);
  const messages = Array.from({ length: MESSAGES }, (_, i) => ({
    Subject: `m${i}`,
    ContentType: 'plain',
    PlainContent: 'x',
    From: { email: `shop@${s.domain}` },
    To: [{ email: `r${i}@example.org` }],
  }));
  const r = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
  expect(r.status).toBeLessThan(300);
  for (let i = 0; i < SUPPRESSED; i++) await addSuppression(h.services.db, s.domainId, `s${i}@example.org`, i % 2 ? 'manual' : 'hard_bounce');
  const now = Date.now();
  await h.services.db('events').insert(
    Array.from({ length: EVENTS }, (_, i) => ({
      message_id: `old-${i}`,
      domain_id: s.domainId,
      user_id: s.userId,
      type: 'delivered',
      created_at: now - i,
      data: '{}',
    })),
  );
  await olderHistory(s.userId, s.domainId);
  expect(await count('messages', { domain_id: s.domainId })).toBe(MESSAGES);
  return s;
}

/** OLD rows of each: hourly and daily rollups from before the reputation guard's day, domain events, a webhook's log. */
async function olderHistory(userId: number, domainId: number) {
  const db = h.services.db;
  const hour = hourOf(Date.now()) - 48;
  const at = Date.now() - 86_400_000;
  const row = (i: number) => ({ domain_id: domainId, unit: i % 2 ? 'h' : 'd', bucket: hour - i, type: 'delivered', count: 1 });
  await db('stats_rollup').insert(Array.from({ length: OLD }, (_, i) => row(i)));
  await db('stats_tag_rollup').insert(Array.from({ length: OLD }, (_, i) => ({ ...row(i), tag: `t${i % 3}` })));
  await db('stats_recipient_domain_rollup').insert(Array.from({ length: OLD }, (_, i) => ({ ...row(i), recipient_domain: `r${i % 4}.example` })));
  await db('domain_events').insert(
    Array.from({ length: OLD }, (_, i) => ({ domain_id: domainId, user_id: userId, type: 'domain.verified', data: '{}', created_at: at + i })),
  );
  const [webhookId] = await db('webhooks').insert({
    user_id: userId,
    domain_id: domainId,
    event: 'delivered',
    url: 'https://93.184.215.14/h',
    created_at: at,
    updated_at: at,
  });
  await db('webhook_deliveries').insert(
    Array.from({ length: OLD }, (_, i) => ({
      webhook_id: Number(webhookId),
      event_id: `evt_${i}`,
      event_type: 'delivered',
      payload: '{}',
      status: i % 3 ? 'delivered' : 'pending',
      next_attempt_at: at + (i % 5),
      created_at: at,
      updated_at: at,
    })),
  );
  await db('webhook_attempts').insert(Array.from({ length: OLD }, (_, i) => ({ webhook_id: Number(webhookId), result: 'delivered', at: at + i })));
}

const count = async (table: string, where: Record<string, unknown>) => Number((await h.services.db(table).where(where).count({ n: '*' }).first())!.n);

/** No DELETE over a run's rows (a message a statement: each carries its content), and every row of the history went. */
function expectRuns(removed: Record<string, number[]>, events: number) {
  const s = sizes(removed);
  expect(s.deliveries).toEqual({ max: RUN, total: MESSAGES });
  expect(s.messages).toEqual({ max: 1, total: MESSAGES });
  expect(s.suppressions).toEqual({ max: RUN, total: SUPPRESSED });
  expect(s.events.max).toBeLessThanOrEqual(RUN);
  expect(s.events.total).toBe(events);
  for (const table of ['stats_rollup', 'stats_tag_rollup', 'stats_recipient_domain_rollup', 'domain_events', 'webhook_deliveries', 'webhook_attempts']) {
    expect([table, s[table]?.max]).toEqual([table, RUN]);
    expect(s[table].total).toBeGreaterThanOrEqual(OLD);
  }
}

/** Nothing of the domain is left, in the tables it cascades to either. */
async function expectNoneLeft(domainId: number) {
  for (const table of [
    'messages',
    'deliveries',
    'events',
    'suppressions',
    'domain_events',
    'stats_rollup',
    'stats_tag_rollup',
    'stats_recipient_domain_rollup',
    'webhooks',
  ])
    expect([table, await count(table, { domain_id: domainId })]).toEqual([table, 0]);
}

it('emailgateway.deletedomain removes a long history a run at a time, keeping the kept reasons for the owner', async () => {
  const s = await senderWithHistory();
  const events = await count('events', { domain_id: s.domainId });
  expect(events).toBeGreaterThanOrEqual(EVENTS);
  const { result, removed } = await deletesDuring(h.services.db, () =>
    h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId }),
  );
  expect(result).toEqual({ Success: true, ErrorCode: 0 });
  expectRuns(removed, events);
  expect(await count('sender_domains', { id: s.domainId })).toBe(0);
  await expectNoneLeft(s.domainId);
  expect(await count('retained_suppressions', { user_id: s.userId, domain: s.domain })).toBe(SUPPRESSED / 2);
});

it("user.delete removes an account's long lists and domain history a run at a time", async () => {
  const s = await senderWithHistory();
  const o = { userId: s.userId, sessionId: s.sessionId };
  const listId = await makeList(h, o);
  const field = await makeField(h, o, listId, 'City');
  await bulkSubscribers(h.services.db, listId, 30, 'u-', 'example.com');
  const members: number[] = await h.services.db('subscribers').where({ list_id: listId }).pluck('id');
  await h.services.db('subscriber_values').insert(members.map((subscriber_id) => ({ subscriber_id, field_id: field, value: 'x' })));
  const events = await count('events', { user_id: s.userId });
  const db = h.services.db;
  // What the account holds beside its domains: kept suppressions and hours of domains deleted before, its own
  // suppression list, an account-wide webhook's log.
  const at = Date.now();
  await db('retained_suppressions').insert(
    Array.from({ length: OLD }, (_, i) => ({
      user_id: s.userId,
      domain: `old${i % 2}.example`,
      email: `k${i}@example.org`,
      reason: 'complaint',
      created_at: at,
      retained_at: at,
    })),
  );
  await db('retained_reputation_hours').insert(
    Array.from({ length: OLD }, (_, i) => ({ user_id: s.userId, bucket: hourOf(at) - (i >> 1), type: i % 2 ? 'delivered' : 'complained', count: 1 })),
  );
  expect(await as(h, o)('suppression.import', { EmailAddresses: Array.from({ length: OLD }, (_, i) => `a${i}@example.org`) })).toMatchObject({
    TotalImported: OLD,
  });
  const [hook] = await db('webhooks').insert({
    user_id: s.userId,
    domain_id: null,
    event: 'delivered',
    url: 'https://93.184.215.14/a',
    created_at: at,
    updated_at: at,
  });
  await db('webhook_attempts').insert(Array.from({ length: OLD }, (_, i) => ({ webhook_id: Number(hook), result: 'delivered', at: at + i })));

  const { result, removed } = await deletesDuring(h.services.db, () => h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, UserID: s.userId }));
  expect(result).toEqual({ Success: true, ErrorCode: 0 });
  expectRuns(removed, events);
  expect(sizes(removed).subscribers).toEqual({ max: RUN, total: 30 });
  expect(sizes(removed).subscriber_values).toEqual({ max: RUN, total: 30 });
  expect(sizes(removed).retained_suppressions).toEqual({ max: RUN, total: OLD });
  expect(sizes(removed).retained_reputation_hours).toEqual({ max: RUN, total: OLD });
  expect(sizes(removed).suppression_entries).toEqual({ max: RUN, total: OLD });
  expect(sizes(removed).webhook_attempts).toEqual({ max: RUN, total: 2 * OLD });
  for (const table of ['retained_suppressions', 'retained_reputation_hours', 'suppression_entries', 'webhooks'])
    expect([table, await count(table, { user_id: s.userId })]).toEqual([table, 0]);
  await expectNoneLeft(s.domainId);
  expect(await count('users', { id: s.userId })).toBe(0);
  for (const table of ['sender_domains', 'messages', 'events', 'lists']) expect(await count(table, { user_id: s.userId })).toBe(0);
  expect(await count('subscribers', { list_id: listId })).toBe(0);
  expect(await count('suppressions', { domain_id: s.domainId })).toBe(0);
});
