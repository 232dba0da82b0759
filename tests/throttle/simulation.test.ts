/**
 * Per-destination throttling (issue 17 §5) on a controllable clock: a discrete-event run of many sends through the
 * real Throttle (rules, windows, connection counts, backoff), with no real waiting. Each send is admitted or put
 * back until the time the throttle names, and holds its connection for the destination's simulated reply time.
 */
import { isRateLimitReply, LocalBackoff } from '../../src/throttle/backoff';
import { LocalConnectionGate, LocalRateGate, windowFor } from '../../src/throttle/gate';
import { parseThrottleRules, ruleFor } from '../../src/throttle/rules';
import { Throttle } from '../../src/throttle/throttle';
import { loadConfig } from '../../src/config';

const T0 = 1_800_000_000_300; // deliberately not on a window boundary

function rig(rules: Record<string, unknown> | null, backoffMs = 600_000) {
  const clock = { now: T0 };
  const throttle = new Throttle({
    rules: parseThrottleRules(rules ? JSON.stringify(rules) : undefined),
    clock: () => clock.now,
    rate: new LocalRateGate(),
    connections: new LocalConnectionGate(),
    backoff: new LocalBackoff(),
    backoffMs,
  });
  return { clock, throttle };
}

interface Send {
  to: string;
  latencyMs: number;
  startedAt?: number;
  finishedAt?: number;
  putBack: number;
}

/** Runs every send to completion in simulated time; events at the same instant run in the order they were made. */
async function simulate(clock: { now: number }, throttle: Throttle, sends: Send[]): Promise<void> {
  type Ev = { at: number; seq: number; run: () => Promise<void> };
  const queue: Ev[] = [];
  let seq = 0;
  const push = (at: number, run: () => Promise<void>) => {
    const ev = { at, seq: (seq += 1), run };
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue[mid].at < at || (queue[mid].at === at && queue[mid].seq < ev.seq)) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, ev);
  };
  const attempt = (s: Send) => async () => {
    const a = await throttle.admit(s.to.split('@')[1]);
    if (!a.ok) {
      expect(a.retryAt).toBeGreaterThan(clock.now);
      s.putBack += 1;
      push(a.retryAt, attempt(s));
      return;
    }
    s.startedAt = clock.now;
    push(clock.now + s.latencyMs, async () => {
      a.release();
      s.finishedAt = clock.now;
    });
  };
  for (const s of sends) push(T0, attempt(s));
  while (queue.length) {
    const ev = queue.shift()!;
    clock.now = ev.at;
    await ev.run();
  }
}

/** Most sends started in any one-second window (aligned as the throttle aligns them). */
function peakPerSecond(sends: Send[]): number {
  const per = new Map<number, number>();
  for (const s of sends) per.set(Math.floor(s.startedAt! / 1000), (per.get(Math.floor(s.startedAt! / 1000)) ?? 0) + 1);
  return Math.max(...per.values());
}

describe('throttling on a simulated clock', () => {
  it('1,000 messages to a slow destination limited to 5/s take at least 200 s; other destinations are not slowed', async () => {
    const { clock, throttle } = rig({ 'slow.example': { MessagesPerMinute: 300, Connections: 10 } });
    const slow: Send[] = Array.from({ length: 1000 }, (_, i) => ({ to: `u${i}@slow.example`, latencyMs: 1000, putBack: 0 }));
    const fast: Send[] = Array.from({ length: 200 }, (_, i) => ({ to: `u${i}@fast.example`, latencyMs: 50, putBack: 0 }));
    const gmail: Send[] = Array.from({ length: 20 }, (_, i) => ({ to: `u${i}@gmail.com`, latencyMs: 100, putBack: 0 }));
    // Interleaved, as a real queue would hold them.
    const all = slow.flatMap((s, i) => [s, ...(fast[i] ? [fast[i]] : []), ...(gmail[i] ? [gmail[i]] : [])]);
    await simulate(clock, throttle, all);

    const slowDone = Math.max(...slow.map((s) => s.finishedAt!)) - T0;
    expect(slow.every((s) => s.finishedAt !== undefined)).toBe(true);
    expect(slowDone).toBeGreaterThanOrEqual(200_000);
    expect(slowDone).toBeLessThan(205_000); // and no slower than the limit asks
    expect(peakPerSecond(slow)).toBe(5);
    // A put-back send comes back at its own slot, not all at the next window: about one put-back per message.
    const putBacks = slow.reduce((n, s) => n + s.putBack, 0);
    expect(putBacks).toBeLessThan(1500);

    // No rule: every send to fast.example starts at once.
    expect(Math.max(...fast.map((s) => s.startedAt! - T0))).toBe(0);
    expect(Math.max(...fast.map((s) => s.finishedAt! - T0))).toBe(50);
    // gmail.com's built-in limits (10 connections, 1,200/min) admit 20 sends within the first seconds.
    expect(Math.max(...gmail.map((s) => s.finishedAt! - T0))).toBeLessThan(3000);
  });

  it('holds the connection limit: at most Connections sends in flight to the destination', async () => {
    const { clock, throttle } = rig({ 'conn.example': { Connections: 3 } });
    const sends: Send[] = Array.from({ length: 30 }, (_, i) => ({ to: `u${i}@conn.example`, latencyMs: 5000, putBack: 0 }));
    await simulate(clock, throttle, sends);
    const edges = sends
      .flatMap(
        (s) =>
          [
            [s.startedAt!, 1],
            [s.finishedAt!, -1],
          ] as const,
      )
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let open = 0;
    let peak = 0;
    for (const [, d] of edges) peak = Math.max(peak, (open += d));
    expect(peak).toBe(3);
    expect(sends.every((s) => s.finishedAt !== undefined)).toBe(true);
  });

  it("halves a destination's rate after a 421 or 4.7.x rate-limit reply, once per 30 s, and restores it after THROTTLE_BACKOFF_SECONDS", async () => {
    const { clock, throttle } = rig({ 'busy.example': { MessagesPerMinute: 600 } }, 300_000);
    const inWindow = async () => {
      clock.now = Math.ceil((clock.now + 1) / 1000) * 1000; // the start of the next one-second window
      let n = 0;
      while ((await throttle.admit('busy.example')).ok) n += 1;
      return n;
    };
    expect(await inWindow()).toBe(10);
    expect(await throttle.heard('busy.example', [], 451, '451 4.7.1 Greylisted, try again later')).toBeNull();
    expect(await inWindow()).toBe(10);
    expect(await throttle.heard('busy.example', [], 421, '421 4.7.0 Too many connections, slow down')).toBe(1);
    // Ten sends in flight hearing the same 421 halve it once.
    expect(await throttle.heard('busy.example', [], 421, '421 try later')).toBe(1);
    expect(await inWindow()).toBe(5);
    clock.now += 31_000;
    expect(await throttle.heard('busy.example', [], 450, '450 4.7.28 rate limited: too many messages from your IP')).toBe(2);
    // 150/min: 5 per 2 s window.
    expect(windowFor(150)).toEqual({ points: 5, windowSec: 2 });
    clock.now = Math.ceil(clock.now / 2000) * 2000 + 1; // the start of a two-second window
    let n = 0;
    while ((await throttle.admit('busy.example')).ok) n += 1;
    expect(n).toBe(5);
    clock.now += 1000; // the same window's second half: nothing left
    expect((await throttle.admit('busy.example')).ok).toBe(false);
    clock.now += 300_000;
    expect(await inWindow()).toBe(10);

    // A destination with no rule that asks to slow down starts from 120/min, halved: 1 per second.
    expect(await throttle.heard('plain.example', [], 421, '421 4.7.0 rate limit')).toBe(1);
    clock.now = Math.ceil((clock.now + 1) / 1000) * 1000;
    expect((await throttle.admit('plain.example')).ok).toBe(true);
    expect((await throttle.admit('plain.example')).ok).toBe(false);
  });

  it('a backlog queued behind a halving comes back when the full rate does, not at the slow rate for hours', async () => {
    // One 421 from a destination with no rule: 120/min halved, 1 send a second, for THROTTLE_BACKOFF_SECONDS (300 s).
    const { clock, throttle } = rig(null, 300_000);
    expect(await throttle.heard('plain.example', [], 421, '421 4.7.0 rate limit')).toBe(1);
    const sends: Send[] = Array.from({ length: 2000 }, (_, i) => ({ to: `u${i}@plain.example`, latencyMs: 100, putBack: 0 }));
    await simulate(clock, throttle, sends);
    expect(sends.every((s) => s.finishedAt !== undefined)).toBe(true);
    const during = sends.filter((s) => s.startedAt! < T0 + 300_000);
    // While halved: at most one a second (about 300 in all).
    expect(peakPerSecond(during)).toBe(1);
    expect(during.length).toBeGreaterThanOrEqual(290);
    expect(during.length).toBeLessThanOrEqual(301);
    // The rest go within a second or two of the full rate's return (they had slots up to 2,000 s ahead at 1/s),
    // having been put back about once more each.
    expect(Math.max(...sends.map((s) => s.startedAt!)) - T0).toBeLessThan(302_000);
    expect(sends.reduce((n, s) => n + s.putBack, 0)).toBeLessThan(2 * sends.length);

    // With a rule (600/min, halved to 300/min): 5 a second while halved, then the rule's own 10 a second, in slots
    // of the full rate (not behind the slow rate's line): 3,000 sends end near 300 s + 1,500 / 10 s, not at 600 s.
    const ruled = rig({ 'busy.example': { MessagesPerMinute: 600 } }, 300_000);
    expect(await ruled.throttle.heard('busy.example', [], 421, '421 4.7.0 rate limit')).toBe(1);
    const busy: Send[] = Array.from({ length: 3000 }, (_, i) => ({ to: `u${i}@busy.example`, latencyMs: 100, putBack: 0 }));
    await simulate(ruled.clock, ruled.throttle, busy);
    const halved = busy.filter((s) => s.startedAt! < T0 + 300_000);
    expect(peakPerSecond(halved)).toBe(5);
    expect(peakPerSecond(busy)).toBe(10);
    expect(Math.max(...busy.map((s) => s.startedAt!)) - T0).toBeLessThan(455_000);
  });

  it('knows a rate-limit reply when it sees one', () => {
    expect(isRateLimitReply(421, '421 Service not available')).toBe(true);
    expect(isRateLimitReply(undefined, '421-4.7.0 [TSS04] Messages temporarily deferred due to unexpected volume')).toBe(true);
    expect(isRateLimitReply(450, '450 4.7.1 Recipient address rejected: rate limit exceeded')).toBe(true);
    expect(isRateLimitReply(452, '452 4.7.1 Too many messages in this session')).toBe(true);
    expect(isRateLimitReply(451, '451 4.7.1 Please try again later (greylisted)')).toBe(false);
    expect(isRateLimitReply(550, '550 5.7.1 rate limit')).toBe(false);
    expect(isRateLimitReply(undefined, 'ECONNREFUSED connect')).toBe(false);
  });
});

describe('THROTTLE_RULES', () => {
  it('starts from the built-in rules, whose groups share one budget', () => {
    const t = parseThrottleRules(undefined);
    expect(ruleFor(t, 'GoogleMail.com')?.name).toBe('gmail.com');
    expect(ruleFor(t, 'hotmail.com')).toMatchObject({ name: 'outlook.com', limits: { messagesPerMinute: 600, connections: 5, messagesPerConnection: 50 } });
    expect(ruleFor(t, 'aol.com')?.name).toBe('yahoo.com');
    expect(ruleFor(t, 'icloud.com')?.name).toBe('icloud.com');
    expect(ruleFor(t, 'example.org')).toBeNull();
  });

  it('overrides a group partly, removes one with null, adds domain, MX and default rules', () => {
    const t = parseThrottleRules(
      JSON.stringify({
        'googlemail.com': { MessagesPerMinute: 60 },
        'yahoo.com': null,
        'mx:protection.outlook.com': { MessagesPerMinute: 100, Connections: 2 },
        'Example.NET.': { connections: 1 },
        default: { MessagesPerMinute: 1000 },
      }),
    );
    expect(ruleFor(t, 'gmail.com')?.limits).toEqual({ messagesPerMinute: 60, connections: 10, messagesPerConnection: 100 });
    expect(ruleFor(t, 'aol.com', [])).toMatchObject({ name: 'aol.com', limits: { messagesPerMinute: 1000 } }); // the default now
    expect(ruleFor(t, 'contoso.com', ['contoso-com.mail.protection.outlook.com'])?.name).toBe('mx:protection.outlook.com');
    expect(ruleFor(t, 'example.net')?.limits).toEqual({ connections: 1 });
  });

  it('refuses bad rules with a message naming the part, through loadConfig', () => {
    const load = (v: string) => () => loadConfig({ THROTTLE_RULES: v });
    expect(load('{')).toThrow(/^THROTTLE_RULES is not valid JSON/);
    expect(load('[]')).toThrow('THROTTLE_RULES must be a JSON object keyed by domain, mx:<suffix> or default');
    expect(load('{"gmail.com":{"MessagesPerMinute":0}}')).toThrow('THROTTLE_RULES["gmail.com"].MessagesPerMinute must be a whole number from 1 to 1000000');
    expect(load('{"gmail.com":{"Speed":1}}')).toThrow(
      'THROTTLE_RULES["gmail.com"]: unknown field "Speed" (MessagesPerMinute, Connections, MessagesPerConnection)',
    );
    expect(load('{"not a domain":{}}')).toThrow('THROTTLE_RULES["not a domain"]: "not a domain" is not a domain, mx:<host suffix> or default');
    expect(loadConfig({ THROTTLE_RULES: '{"a.example":{"MessagesPerMinute":5}}' }).throttleRules.rules.at(-1)).toMatchObject({ name: 'a.example' });
  });
});
