/**
 * A campaign to 3,000 members (12 pages of LIST_PAGE = 250) survives a worker SIGKILLed mid-launch: the built
 * worker (`node dist/src/main.js worker`) pages the list, is killed after about a quarter, and a second worker
 * resumes at the cursor. Every member reaches the SMTP sink exactly once, personalised. (10,000 members, 40 pages,
 * checked nothing more and took three times as long.)
 *
 * The first worker's relay is a tarpit that accepts connections and never answers, so none of its deliveries can
 * complete before the kill: what this test counts is the launch (pages, cursor, resume). The delivery-level window
 * (a message on the wire when its worker dies may be sent twice) is tests/mysql-only/crash-recovery.test.ts's.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { waitForCampaign } from '../helpers/campaign-rig';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';
import { spawnWorker } from '../helpers/worker-process';

const MEMBERS = 3_000;
/**
 * Between checks of the campaign's progress and its deliveries: each is a count over the 3,000 messages, and at the
 * helper's 25 ms the polling took CPU from the worker it waits for.
 */
const POLL_MS = 250;

let h: Harness;
let sink: Sink;
let tarpit: net.Server;
const held = new Set<net.Socket>();
const children: ChildProcess[] = [];

function startWorker(relayPort: number): ChildProcess {
  const child = spawnWorker(h, relayPort, { DELIVERY_CONCURRENCY: '50', DKIM_SIGNING: '0' });
  children.push(child);
  return child;
}

beforeAll(async () => {
  sink = await startSink();
  tarpit = net.createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
  h = await startHarness();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of held) s.destroy();
  await new Promise((r) => tarpit.close(r));
  await h.close();
  await sink.close();
});

it('sends a 3,000-member campaign exactly once each across a worker SIGKILL mid-launch', async () => {
  const s = await senderSetup(h);
  const db = h.services.db;
  await db('sender_domains').where({ id: s.domainId }).update({ link_tracking: false, open_tracking: false });
  const list = await h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: 'Big', SenderEmailAddress: `news@${s.domain}` });
  const now = Date.now();
  // The members are the fixture here, written in bulk; the door under test is the launch.
  for (let i = 0; i < MEMBERS; i += 1000) {
    await db('subscribers').insert(
      Array.from({ length: Math.min(1000, MEMBERS - i) }, (_, j) => ({
        list_id: list.ListID,
        email: `m${i + j}@big.test`,
        status: 'Subscribed',
        subscription_date: now,
        source: 'API',
        created_at: now,
        updated_at: now,
      })),
    );
  }
  const c = await h.call({
    Command: 'campaign.create',
    SessionID: s.sessionId,
    CampaignName: 'Big',
    Subject: 'Hello',
    ListID: list.ListID,
    PlainContent: 'Dear {{ Subscriber:EmailAddress }}',
  });
  const launched = await h.call({ Command: 'campaign.launch', SessionID: s.sessionId, CampaignID: c.CampaignID });
  expect(launched).toMatchObject({ Success: true, Status: 'sending', Recipients: MEMBERS });

  const first = startWorker((tarpit.address() as net.AddressInfo).port);
  const queued = async () => Number((await db('messages').where({ campaign_id: c.CampaignID }).count({ n: '*' }))[0].n);
  await waitFor(async () => (await queued()) >= MEMBERS / 4, 120000, 'a quarter of the campaign', 100);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const atKill = await queued();
  expect(atKill).toBeLessThan(MEMBERS);
  expect(sink.received).toHaveLength(0);

  startWorker(sink.port);
  await waitForCampaign(
    (command, p) => h.call({ Command: command, SessionID: s.sessionId, ...p }),
    c.CampaignID,
    'completed',
    180000,
    'the campaign to complete',
    POLL_MS,
  );
  await waitFor(
    async () => {
      const [{ n }] = await db('deliveries as d')
        .join('messages as m', 'm.id', 'd.message_id')
        .where('m.campaign_id', c.CampaignID)
        .whereNot('d.status', 'delivered')
        .count({ n: '*' });
      return Number(n) === 0;
    },
    180000,
    'every delivery',
    POLL_MS,
  );
  await new Promise((r) => setTimeout(r, 500));

  const perRecipient = new Map<string, number>();
  for (const m of sink.received) for (const to of m.to) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
  const twice = [...perRecipient.values()].filter((n) => n > 1).length;
  process.stdout.write(`campaign-crash: killed at ${atKill} of ${MEMBERS} accepted; ${sink.received.length} received; ${twice} recipients twice\n`);
  expect(perRecipient.size).toBe(MEMBERS);
  expect(twice).toBe(0);
  expect(String(sink.received.find((m) => m.to[0] === 'm2424@big.test')!.raw)).toContain('Dear m2424@big.test');
  // Progress counts that cost over CAMPAIGN_PROGRESS_LIVE_MS (a loaded machine) are reused for at least 2 s, then recounted.
  const final = async () => (await h.call({ Command: 'campaign.get', SessionID: s.sessionId, CampaignID: c.CampaignID })).Campaign.Progress;
  await waitFor(async () => (await final()).Delivered === MEMBERS, 30000, 'progress to count every delivery', POLL_MS);
  expect(await final()).toMatchObject({ Recipients: MEMBERS, Queued: MEMBERS, Delivered: MEMBERS });
}, 420000);
