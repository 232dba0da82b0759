/**
 * Kills a worker process (SIGKILL) while 1,000 messages flow to a sink, starts another, and checks that every
 * message arrives, counting duplicates (at most the deliveries that were on the wire at the kill).
 * Runs the built worker (`node dist/src/main.js worker`) against the real MariaDB and Redis.
 */
import type { ChildProcess } from 'node:child_process';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';
import { spawnWorker } from '../helpers/worker-process';

const CONCURRENCY = 20;

let h: Harness;
let sink: Sink;
const children: ChildProcess[] = [];

function startWorker(): ChildProcess {
  // A delivery deferred on the way (a timeout at the busy sink on a loaded machine) is retried within seconds, not
  // after the default's 60 s and 300 s, which outlast the wait below: what this test counts is the takeover.
  const child = spawnWorker(h, sink.port, { DELIVERY_CONCURRENCY: String(CONCURRENCY), RETRY_SCHEDULE_SECONDS: '1,2' });
  children.push(child);
  return child;
}

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h.close();
  await sink.close();
});

it('delivers every message after a worker is SIGKILLed mid-flow, with duplicates only from the in-flight handful', async () => {
  const s = await senderSetup(h);
  // Each delivery spends a little time at the sink so some are on the wire when the worker dies. Only until the kill:
  // after it the busy wait would just burn 2 ms of this process's CPU for each of the remaining ~750 messages.
  const slow = sink.onRcpt;
  let killed = false;
  sink.onRcpt = (a, from) => {
    const until = killed ? 0 : Date.now() + 2;
    while (Date.now() < until);
    return slow?.(a, from);
  };
  const messages = Array.from({ length: 1000 }, (_, i) => ({
    Subject: `crash test ${i}`,
    ContentType: 'plain',
    PlainContent: `message ${i}`,
    From: { name: 'Crash', email: `crash@${s.domain}` },
    To: [{ name: '', email: `r${i}@sink.test` }],
  }));
  const res = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
  expect(res.body.Accepted).toBe(1000);

  const first = startWorker();
  await waitFor(() => sink.received.length >= 250, 60000, 'the first 250 messages');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const atKill = sink.received.length;
  killed = true;

  startWorker();
  await waitFor(
    async () => {
      const [{ n }] = await h.services.db('deliveries').whereNot({ status: 'delivered' }).count({ n: '*' });
      return Number(n) === 0;
    },
    120000,
    'every delivery to be delivered',
    250, // a count over the 1,000 deliveries: every 25 ms it took CPU from the worker it waits for
  ).catch(async (err: Error) => {
    // Say which are left and why: the worker's own output is not kept.
    const left = await h.services.db('deliveries').whereNot({ status: 'delivered' }).limit(5).select('status', 'attempts', 'last_reply', 'lease_until');
    throw new Error(`${err.message}; not delivered (first 5): ${JSON.stringify(left)}`);
  });
  await new Promise((r) => setTimeout(r, 500));

  const perRecipient = new Map<string, number>();
  for (const r of sink.received) for (const to of r.to) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
  const duplicates = [...perRecipient.values()].reduce((n, c) => n + (c - 1), 0);
  process.stdout.write(`crash-recovery: killed after ${atKill} deliveries; ${sink.received.length} received for 1000 messages; ${duplicates} duplicates\n`);
  expect(perRecipient.size).toBe(1000);
  expect(duplicates).toBeLessThanOrEqual(CONCURRENCY);
}, 240000);
