/**
 * Deleting a webhook with a long outbox and attempt log (more than DELETE_CHUNK_ROWS, small here): its calls and log
 * go a run at a time before its row (src/webhooks/purge.ts), the reply is as before, and another webhook's rows stay.
 * A busy webhook's log cascaded in one DELETE outlasted DB_QUERY_TIMEOUT_MS.
 */
import { deletesDuring, sizes } from '../helpers/delete-sizes';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';
import { outboxRows } from './outbox-fixtures';

const RUN = 7;
/** Calls per status, and attempt-log lines, per webhook. */
const CALLS = 10;
const ATTEMPTS = 25;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ DELETE_CHUNK_ROWS: String(RUN), WEBHOOK_ALLOW_PRIVATE: '1' });
});
afterAll(async () => {
  await h.close();
});

const count = async (table: string, where: Record<string, unknown>) => Number((await h.services.db(table).where(where).count({ n: '*' }).first())!.n);

/** CALLS outbox rows in each status (some sharing a next_attempt_at, as a burst does) and ATTEMPTS log lines. */
async function withLog(webhookId: number) {
  const db = h.services.db;
  const at = Date.now();
  for (const status of ['pending', 'failed', 'delivered'])
    await db('webhook_deliveries').insert(outboxRows(webhookId, CALLS, status, { status, next_attempt_at: at + (status === 'pending' ? 0 : 1) }));
  await db('webhook_attempts').insert(
    Array.from({ length: ATTEMPTS }, (_, i) => ({
      webhook_id: webhookId,
      event_id: `evt_${i}`,
      event_type: 'delivered',
      attempt: 1,
      result: 'delivered',
      at: at + i,
    })),
  );
}

function expectRuns(removed: Record<string, number[]>) {
  const s = sizes(removed);
  expect(s.webhook_deliveries).toEqual({ max: RUN, total: 3 * CALLS });
  expect(s.webhook_attempts).toEqual({ max: RUN, total: ATTEMPTS });
}

it('emailgateway.deletewebhook removes a long outbox and log a run at a time, then the webhook', async () => {
  const s = await senderSetup(h);
  const add = (url: string) => h.call({ Command: 'emailgateway.addwebhook', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
  const gone = (await add('http://127.0.0.1:9/gone')).NewWebhookID;
  const kept = (await add('http://127.0.0.1:9/kept')).NewWebhookID;
  await withLog(gone);
  await withLog(kept);

  const { result, removed } = await deletesDuring(h.services.db, () =>
    h.call({ Command: 'emailgateway.deletewebhook', SessionID: s.sessionId, DomainID: s.domainId, WebhookID: gone }),
  );
  expect(result).toEqual({ Success: true, ErrorCode: 0 });
  expectRuns(removed);
  expect(await count('webhooks', { id: gone })).toBe(0);
  expect(await count('webhook_deliveries', { webhook_id: gone })).toBe(0);
  expect(await count('webhook_attempts', { webhook_id: gone })).toBe(0);
  expect(await count('webhook_deliveries', { webhook_id: kept })).toBe(3 * CALLS);
  expect(await count('webhook_attempts', { webhook_id: kept })).toBe(ATTEMPTS);
  // Gone: the same call answers not found, as before.
  expect((await h.call({ Command: 'emailgateway.deletewebhook', SessionID: s.sessionId, DomainID: s.domainId, WebhookID: gone })).Success).toBe(false);
});

it("webhook.delete removes an account-wide subscription's long outbox and log a run at a time", async () => {
  const s = await senderSetup(h);
  const key = await accountKey(h, s.sessionId);
  const sub = await h.call({ Command: 'webhook.create', SenderAPIKey: key, URL: 'http://127.0.0.1:9/sub', Events: ['delivered'], Format: 'standard' });
  expect(sub).toMatchObject({ Success: true, DomainID: null });
  await withLog(sub.WebhookID);

  const { result, removed } = await deletesDuring(h.services.db, () => h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: sub.WebhookID }));
  expect(result).toEqual({ Success: true, ErrorCode: 0 });
  expectRuns(removed);
  expect(await count('webhooks', { id: sub.WebhookID })).toBe(0);
  expect(await count('webhook_deliveries', { webhook_id: sub.WebhookID })).toBe(0);
  expect((await h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: sub.WebhookID })).ErrorCode).toBe(4);
});
