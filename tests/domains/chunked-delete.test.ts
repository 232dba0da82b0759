/**
 * Deleting a sender domain, or an account, with more history than a run (DELETE_CHUNK_ROWS, small here): everything
 * goes, the reply is as before, and no DELETE removes more than a run's rows (src/domains/purge.ts,
 * src/accounts/purge.ts), so each statement stays under DB_QUERY_TIMEOUT_MS however large the history.
 */
import supertest from 'supertest';
import { addSuppression } from '../../src/suppression/suppressions';
import { deletesDuring, sizes } from '../helpers/delete-sizes';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { bulkSubscribers, makeField, makeList } from '../lists/fixtures';

const RUN = 7;
const MESSAGES = 12;
const SUPPRESSED = 20;
const EVENTS = 20;

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
  const r = await supertest(h.app).post('/api/v1/email/batch').set('Authorization', `Bearer ${s.key}`).send({ Messages: messages });
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
  expect(await count('messages', { domain_id: s.domainId })).toBe(MESSAGES);
  return s;
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
  for (const table of ['sender_domains', 'messages', 'deliveries', 'events', 'suppressions'])
    expect(await count(table, table === 'sender_domains' ? { id: s.domainId } : { domain_id: s.domainId })).toBe(0);
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

  const { result, removed } = await deletesDuring(h.services.db, () => h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, UserID: s.userId }));
  expect(result).toEqual({ Success: true, ErrorCode: 0 });
  expectRuns(removed, events);
  expect(sizes(removed).subscribers).toEqual({ max: RUN, total: 30 });
  expect(sizes(removed).subscriber_values).toEqual({ max: RUN, total: 30 });
  expect(await count('users', { id: s.userId })).toBe(0);
  for (const table of ['sender_domains', 'messages', 'events', 'lists']) expect(await count(table, { user_id: s.userId })).toBe(0);
  expect(await count('subscribers', { list_id: listId })).toBe(0);
  expect(await count('suppressions', { domain_id: s.domainId })).toBe(0);
});
