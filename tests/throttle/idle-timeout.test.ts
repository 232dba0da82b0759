/**
 * An idle pooled session's "421 … Timeout - closing connection" is not a "slow down". Through the real doors: mail
 * sent over /api/v1/email, a delivery worker relaying over a real TCP link to a real smtp-server that times idle
 * sessions out. The link holds the server's farewell until the worker speaks again, as a network's latency makes
 * the 421 and the next MAIL FROM cross.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { createThrottle, Throttle } from '../../src/throttle/throttle';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { relayEnv } from '../helpers/rig';
import { LagLink, startLagLink } from '../helpers/lag-link';
import { Sink, startSink, waitFor } from '../helpers/sink';

const DEST = 'idle.throttle.test';

let sink: Sink;
let link: LagLink;
let h: Harness;
let worker: DeliveryWorker;
let throttle: Throttle;
let s: Awaited<ReturnType<typeof senderSetup>>;
const warnings: string[] = [];

beforeAll(async () => {
  sink = await startSink({}, { socketTimeout: 1000 });
  link = await startLagLink({ host: '127.0.0.1', port: sink.port });
  const logger = winston.createLogger({
    level: 'warn',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write: (c, _e, done) => (warnings.push(String(c)), done()) }) })],
  });
  h = await startHarness(relayEnv(link.port), { logger });
  // The worker's own throttle, held here to read its backoff level (in process or in Redis, as the project runs).
  throttle = createThrottle(h.services);
  worker = createDeliveryWorker(h.services, { throttle });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await link.close();
  await sink.close();
});

async function send(to: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'idle', ContentType: 'plain', PlainContent: 'hello', From: { name: '', email: `a@${s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.body).toEqual({ MessageID: expect.any(String) });
  return res.body.MessageID;
}

const delivered = (messageId: string) => async () => (await h.services.db('deliveries').where({ message_id: messageId, status: 'delivered' })).length === 1;

it('a pooled session the server timed out while idle: the next delivery goes on a fresh session, once, not deferred, no backoff', async () => {
  const first = await send(`r1@${DEST}`);
  await waitFor(delivered(first), 15000, 'the first delivery');
  // The sink times the idle session out; its 421 waits on the link for the worker's next command.
  await link.hold();

  const second = await send(`r2@${DEST}`);
  await waitFor(delivered(second), 15000, 'the second delivery');
  const row = await h.services.db('deliveries').where({ message_id: second }).first();
  expect(Number(row.attempts)).toBe(1);
  const [ok] = await h.services.db('events').where({ message_id: second, type: 'delivered' }).select('data');
  expect(JSON.parse(ok.data).smtp_reply).toMatch(/^250/); // in its event: a first attempt's row keeps no reply
  expect(await h.services.db('events').where({ message_id: second, type: 'deferred' })).toHaveLength(0);
  expect(sink.received.map((m) => m.to[0])).toEqual([`r1@${DEST}`, `r2@${DEST}`]);
  expect(link.crossed).toBe(1); // the sink's 421 did meet the worker's MAIL FROM on the wire
  expect(link.connects).toBe(2); // the dead session, then one fresh one
  // No halving: an unruled destination at full rate is admitted without a rule, and nothing was logged.
  expect((await throttle.admit(DEST)).rule).toBeNull();
  expect(warnings.filter((w) => /slow down/.test(w))).toEqual([]);
}, 40_000);
