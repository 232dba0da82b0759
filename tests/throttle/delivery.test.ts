/**
 * Throttling through the real doors: mail sent over /api/v1/email reaches a real SMTP sink no faster than the
 * destination's THROTTLE_RULES allow, while another destination is not held up; a send put back by the throttle is
 * not an attempt and leaves no `deferred` event. On MariaDB + Redis the counters live in Redis, shared by workers.
 */
import { createThrottle } from '../../src/throttle/throttle';
import { metric } from '../helpers/prom';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
const SLOW = 'slow.throttle.test';

beforeAll(async () => {
  // 60 a minute: one send per one-second window to the slow destination.
  rig = await startRelayRig({ THROTTLE_RULES: JSON.stringify({ [SLOW]: { MessagesPerMinute: 60, Connections: 1 } }) });
});
afterAll(async () => {
  await rig.close();
});

async function send(to: string[]): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'throttled',
      ContentType: 'plain',
      PlainContent: 'hello',
      From: { name: '', email: `a@${rig.s.domain}` },
      To: to.map((email) => ({ name: '', email })),
    },
  });
  expect(res.body).toEqual({ MessageID: expect.any(String) });
  return res.body.MessageID;
}

describe('per-destination throttling', () => {
  it('spaces sends to a limited destination one window apart, does not slow another, and counts no attempts for put-backs', async () => {
    const started = Date.now();
    const slowId = await send([1, 2, 3, 4].map((i) => `r${i}@${SLOW}`));
    const fastId = await send([1, 2, 3, 4].map((i) => `r${i}@fast.throttle.test`));
    const db = rig.h.services.db;
    await waitFor(async () => (await db('deliveries').where({ message_id: fastId, status: 'delivered' })).length === 4, 15000, 'fast deliveries');
    const fastDone = Date.now();
    await waitFor(async () => (await db('deliveries').where({ message_id: slowId, status: 'delivered' })).length === 4, 20000, 'slow deliveries');

    const slowTimes = rig.sink.received
      .filter((m) => m.to[0].endsWith(`@${SLOW}`))
      .map((m) => m.at)
      .sort((a, b) => a - b);
    expect(slowTimes).toHaveLength(4);
    // Four sends at one per one-second window: four windows, so more than two seconds between the first and the
    // last admission. The sink sees them less the first send's longer setup (a new connection): allow half a second.
    expect(slowTimes[3] - slowTimes[0]).toBeGreaterThanOrEqual(1500);
    expect(slowTimes[3] - started).toBeGreaterThanOrEqual(2000);
    const fastTimes = rig.sink.received.filter((m) => m.to[0].endsWith('@fast.throttle.test')).map((m) => m.at);
    // Spaced like the limited ones they would span three windows (2.5 s or more at the sink); at once they take
    // milliseconds, so 2 s tells the two apart with room for a loaded machine.
    expect(Math.max(...fastTimes) - Math.min(...fastTimes)).toBeLessThan(2000);
    // The other destination went at once, before the limited one was through.
    expect(fastDone).toBeLessThan(slowTimes[3]);

    const rows = await db('deliveries').where({ message_id: slowId });
    expect(rows.map((r: { attempts: number }) => Number(r.attempts))).toEqual([1, 1, 1, 1]);
    expect(await db('events').where({ message_id: slowId, type: 'deferred' })).toHaveLength(0);
    const scrape = await rig.h.request('GET', '/metrics');
    // Destination labels are bounded (a domain gets its own once seen often; before that it counts as other).
    expect(metric(scrape.text, 'postern_throttled_total')).toBeGreaterThanOrEqual(3);
  }, 40_000);

  (rig_redis() ? it : it.skip)('shares one budget between worker processes through Redis', async () => {
    // Two throttles as two workers would build them: together they get one window's points, not two.
    const a = createThrottle(rig.h.services);
    const b = createThrottle(rig.h.services);
    const shared = 'shared.throttle.test';
    rig.h.services.config.throttleRules.rules.push({ name: shared, domains: [shared], limits: { messagesPerMinute: 300 } });
    // Start just after a window boundary so the count is not split between two windows.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).admit(shared)));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
  });

  (rig_redis() ? it : it.skip)('counts connections in flight across worker processes through Redis', async () => {
    const a = createThrottle(rig.h.services);
    const b = createThrottle(rig.h.services);
    const dest = 'conns.throttle.test';
    rig.h.services.config.throttleRules.rules.push({ name: dest, domains: [dest], limits: { connections: 2 } });
    const first = await Promise.all([a.admit(dest), b.admit(dest), a.admit(dest), b.admit(dest)]);
    expect(first.filter((r) => r.ok)).toHaveLength(2);
    expect(first.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(['connections', 'connections']);
    const held = first.find((r) => r.ok);
    if (held?.ok) held.release();
    await new Promise((r) => setTimeout(r, 50)); // the release is not awaited by the sender
    expect((await b.admit(dest)).ok).toBe(true);
    expect((await a.admit(dest)).ok).toBe(false);
  });
});

function rig_redis(): boolean {
  return process.env.POSTERN_TEST_DB !== 'sqlite';
}
