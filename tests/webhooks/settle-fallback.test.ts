/**
 * A webhook call whose outcome cannot be recorded whole (here the attempt log refuses its INSERT, as a full disk
 * refuses INSERTs while UPDATEs pass) is retried until its lease is about to end, then written on its outbox row alone:
 * the receiver gets it once. Before, the row stayed leased and each lease's end sent the call again, for ever.
 *
 * The two cases run side by side (each is mostly a lease and a 4 s watch; 9-10 s a project one after the other): each
 * has its own webhook, path and row, and one worker polls both.
 */
import { Harness, startHarness } from '../helpers/harness';
import { refuseWith } from '../helpers/refusing-trigger';
import { waitFor } from '../helpers/sink';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver } from './receiver';
import { deliveryWebhook, outboxRows } from './outbox-fixtures';

/** What the receiver answers on each path, and the state its row settles in. */
const CASES: [string, string, number, string][] = [
  ['answered 2xx', '/ok', 200, 'delivered'],
  ['answered 500', '/down', 500, 'pending'],
];

let h: Harness;
let rx: Receiver;
let worker: WebhookWorker;

beforeAll(async () => {
  rx = await startReceiver();
  rx.respond = (hit) => CASES.find(([, path]) => path === hit.path)?.[2] ?? 200;
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '100', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_LEASE_GRACE_MS: '1500' });
  await refuseWith(h.services.db, 'refuse_attempt_log', { table: 'webhook_attempts', op: 'INSERT', fault: 'error', message: 'no space left (test)' });
});
afterAll(async () => {
  await worker?.stop();
  await h.close();
  await rx.stop();
});

it.concurrent.each(CASES)('a call %s is sent once and its row settled, however long the log refuses it', async (_what, path, _status, settled) => {
  const webhookId = await deliveryWebhook(h, rx.url(path));
  const [id] = await h.services.db('webhook_deliveries').insert(outboxRows(webhookId, 1, path.slice(1)));
  worker ??= startWebhookWorker(h.services);
  const row = () => h.services.db('webhook_deliveries').where({ id }).first('status', 'attempts', 'lease_until');
  await waitFor(async () => (await row()).lease_until === null && Number((await row()).attempts) === 1, 15000, 'the row settled');
  // Several leases later (1 s timeout + 1.5 s grace each): still one call.
  await new Promise((r) => setTimeout(r, 4000));
  expect(rx.hits.filter((hit) => hit.path === path)).toHaveLength(1);
  expect(await row()).toMatchObject({ status: settled, attempts: 1, lease_until: null });
});
