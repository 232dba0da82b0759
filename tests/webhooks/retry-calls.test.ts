/**
 * Retrying a webhook's failed calls (emailgateway.retrywebhookcalls, POST /api/v1/webhooks/{id}/retry) once its
 * receiver is mended: driven through /api.php and /api/v1 against a real worker and a loopback receiver.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { RETRY_CALLS_MAX } from '../../src/webhooks/retry-calls';
import { startWebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver } from './receiver';
import { outboxRows } from './outbox-fixtures';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  // No worker runs unless a test starts one: the outbox rows of the other tests stay as they are put.
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_MAX_FAILURES: '2' });
});
afterAll(async () => {
  await h.close();
  await rx.stop();
});

const cmd = (command: string, s: Sender, params: Record<string, unknown> = {}) =>
  h.call({ Command: `emailgateway.${command}`, SessionID: s.sessionId, DomainID: s.domainId, ...params });

async function hook(s: Sender, path: string): Promise<number> {
  const r = await cmd('addwebhook', s, { Event: 'delivered', WebhookURL: rx.url(path) });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.NewWebhookID;
}

const rows = (webhookId: number) => h.services.db('webhook_deliveries').where({ webhook_id: webhookId }).orderBy('id');

it("sends a disabled webhook's failed calls again once the receiver is mended, with their webhook-id, and never a delivered one", async () => {
  const s = await senderSetup(h);
  const hookId = await hook(s, '/mended');
  await h.services.db('webhook_deliveries').insert([...outboxRows(hookId, 3, 'down'), ...outboxRows(hookId, 1, 'done', { status: 'delivered', attempts: 1 })]);
  let up = false;
  rx.respond = (hit) => (hit.path === '/mended' && !up ? 503 : 200);
  const worker = startWebhookWorker(h.services);
  try {
    // Two failures in a row disable it (WEBHOOK_MAX_FAILURES=2); the third call then fails unsent.
    await waitFor(async () => (await rows(hookId)).every((r) => r.status !== 'pending'), 15_000, 'every call given up');
    expect((await cmd('getwebhooks', s)).Webhooks[0]).toMatchObject({ WebhookID: hookId, Status: 'Disabled' });
    const failedIds = (await rows(hookId)).filter((r) => r.status === 'failed').map((r) => r.event_id);
    expect(failedIds).toHaveLength(3);

    up = true;
    const before = rx.hits.length;
    const r = await cmd('retrywebhookcalls', s, { WebhookID: hookId });
    expect(r).toEqual({ Success: true, ErrorCode: 0, Requeued: 3, More: false, Enabled: true });
    expect((await cmd('getwebhooks', s)).Webhooks[0]).toMatchObject({ Status: 'Enabled', ConsecutiveFailures: 0, DisabledReason: null });
    await waitFor(async () => (await rows(hookId)).every((row) => row.status === 'delivered'), 15_000, 'the retried calls delivered');
    const sent = rx.hits.slice(before).filter((hit) => hit.path === '/mended');
    expect(sent.map((hit) => hit.headers['webhook-id']).sort()).toEqual([...failedIds].sort());
    // Their attempts started again: each delivered at its first try after the retry.
    expect((await rows(hookId)).filter((row) => failedIds.includes(row.event_id)).map((row) => Number(row.attempts))).toEqual([1, 1, 1]);

    // Nothing left to retry: nothing sent, the webhook stays as it is.
    expect(await cmd('retrywebhookcalls', s, { WebhookID: hookId })).toEqual({ Success: true, ErrorCode: 0, Requeued: 0, More: false, Enabled: false });
  } finally {
    await worker.stop();
    rx.respond = () => 200;
  }
});

it("answers 4 for another account's webhook, 3 for another account's domain, and changes nothing of theirs", async () => {
  const owner = await senderSetup(h);
  const other = await senderSetup(h);
  const hookId = await hook(owner, '/owner');
  await h.services.db('webhook_deliveries').insert(outboxRows(hookId, 2, 'owner', { status: 'failed' }));
  const theirs = await cmd('retrywebhookcalls', other, { WebhookID: hookId });
  expect(theirs).toMatchObject({ Success: false, ErrorCode: 4 });
  const domain = await h.call({ Command: 'emailgateway.retrywebhookcalls', SessionID: other.sessionId, DomainID: owner.domainId, WebhookID: hookId });
  expect(domain).toMatchObject({ Success: false, ErrorCode: 3 });
  const viaKey = await h.request('POST', `/api/v1/webhooks/${hookId}/retry`, { headers: { Authorization: `Bearer ${other.key}` } });
  expect({ status: viaKey.status, body: viaKey.body }).toEqual({ status: 200, body: { Errors: [{ Code: 4, Message: 'Invalid WebhookID' }] } });
  expect((await rows(hookId)).map((r) => r.status)).toEqual(['failed', 'failed']);
  expect(await cmd('retrywebhookcalls', owner, {})).toMatchObject({ Success: false, ErrorCode: [1] });
});

it(`queues at most ${RETRY_CALLS_MAX} per request, oldest first, and says when more are left (POST /api/v1/webhooks/{id}/retry)`, async () => {
  const s = await senderSetup(h);
  const hookId = await hook(s, '/many');
  await h.services.db.batchInsert('webhook_deliveries', outboxRows(hookId, RETRY_CALLS_MAX + 3, 'many', { status: 'failed', attempts: 19 }), 400);
  const post = () => h.request('POST', `/api/v1/webhooks/${hookId}/retry`, { headers: { Authorization: `Bearer ${s.key}` } });
  const first = await post();
  expect(first.status).toBe(200);
  expect(first.body).toEqual({ Requeued: RETRY_CALLS_MAX, More: true, Enabled: false });
  const left = await h.services.db('webhook_deliveries').where({ webhook_id: hookId, status: 'failed' }).pluck('event_id');
  expect(left.sort()).toEqual([0, 1, 2].map((i) => `evt_many_${hookId}_${RETRY_CALLS_MAX + i}`));
  expect((await post()).body).toEqual({ Requeued: 3, More: false, Enabled: false });
  const [{ n }] = await h.services.db('webhook_deliveries').where({ webhook_id: hookId, status: 'pending', attempts: 0 }).count({ n: '*' });
  expect(Number(n)).toBe(RETRY_CALLS_MAX + 3);
}, 60_000);
