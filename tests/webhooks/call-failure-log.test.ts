/**
 * `webhook call failed` is rate-limited per webhook: a dead endpoint with a backlog of events fails every call, and a
 * line for each flooded the log. Its first failure is logged, then at most one line per interval, whose `suppressed`
 * counts the failed calls left unlogged since the line before; another webhook's failures are logged on their own.
 */
import { capturingLogger } from '../helpers/log-lines';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { senderSetup } from '../helpers/harness';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { startReceiver } from './receiver';

/** The worker's interval in this file (60 s in production). */
const INTERVAL_MS = 1000;
const log = capturingLogger('warn');
let rig: RelayRig;
let worker: WebhookWorker;

beforeAll(async () => {
  // No retries within the test: each event's call fails once, so the calls made are the events sent.
  rig = await startRelayRig({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '3600000' }, { logger: log.logger });
  worker = startWebhookWorker(rig.h.services, { failureLogIntervalMs: INTERVAL_MS });
});
afterAll(async () => {
  await worker.stop();
  await rig.close();
});

type Sender = Awaited<ReturnType<typeof senderSetup>>;
const sendOne = (s: Sender, i: number) =>
  rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: `Hooks ${i}`,
      ContentType: 'plain',
      PlainContent: 'Hi',
      From: { name: '', email: `app@${s.domain}` },
      To: [{ name: '', email: `r${i}@recipient.test` }],
    },
  });
/** Calls made to the webhook so far: each of its outbox rows is tried once (no retries here). */
const callsMade = async (webhookId: number) =>
  Number(((await rig.h.services.db('webhook_deliveries').where({ webhook_id: webhookId }).sum({ n: 'attempts' })) as { n: unknown }[])[0].n ?? 0);
const failedLines = (webhookId: number) =>
  log.lines
    .map((l) => JSON.parse(l))
    .filter((l) => l.message === 'webhook call failed' && l.webhookId === webhookId)
    .map((l) => ({ ...l, at: Date.parse(l.timestamp) }));

/** A domain's webhook for delivered mail, at an address where nothing listens. */
async function deadWebhook(s: Sender): Promise<number> {
  const gone = await startReceiver();
  const url = gone.url('/in/dead');
  await gone.stop();
  const hook = await rig.h.call({ Command: 'emailgateway.addwebhook', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
  expect(hook.Success).toBe(true);
  return hook.NewWebhookID;
}

it('logs the first failed call of a webhook, then one line per interval at most, counting the calls it left out', async () => {
  const s = await senderSetup(rig.h);
  const other = await senderSetup(rig.h);
  const hook = await deadWebhook(s);
  const otherHook = await deadWebhook(other);

  const burst = 40;
  for (let i = 0; i < burst; i += 1) expect((await sendOne(s, i)).status).toBe(200);
  expect((await sendOne(other, 0)).status).toBe(200);
  await waitFor(async () => (await callsMade(hook)) === burst && (await callsMade(otherHook)) === 1, 30_000, 'every call made once');
  // One more failure once an interval has passed since the last line: its line carries the count of those left out.
  const lastLine = () => failedLines(hook).at(-1)!.at;
  await waitFor(() => Date.now() - lastLine() > INTERVAL_MS, 5000, 'an interval since the last line');
  expect((await sendOne(s, burst)).status).toBe(200);
  await waitFor(async () => (await callsMade(hook)) === burst + 1, 15_000, 'the last call');
  await waitFor(() => failedLines(hook).length > 0 && Date.now() - lastLine() < INTERVAL_MS, 5000, 'its line');

  const lines = failedLines(hook);
  // The first failure is logged as it is; then never two lines within the interval.
  expect(lines[0].suppressed).toBeUndefined();
  for (let i = 1; i < lines.length; i += 1) expect(lines[i].at - lines[i - 1].at).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
  expect(lines.length).toBeLessThan(burst / 4);
  // Every failed call is a line or counted in the next one.
  expect(lines.reduce((n, l) => n + 1 + (l.suppressed ?? 0), 0)).toBe(burst + 1);
  expect(lines.at(-1)!.suppressed).toBeGreaterThan(0);
  for (const l of lines) expect(l).toMatchObject({ level: 'warn', host: '127.0.0.1', reason: expect.stringContaining('ECONNREFUSED') });
  // Another webhook's failure, within the same interval, has its own line.
  expect(failedLines(otherHook)).toHaveLength(1);
}, 60_000);
