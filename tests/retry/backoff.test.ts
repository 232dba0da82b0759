import { backoffMs, RetryPolicy } from '../../src/retry/backoff';

// The three rules this function replaced, as they stood (queue/port.ts, delivery/worker.ts, webhooks/worker.ts):
// each policy below must give exactly their delays.
const before = {
  queue: (b: { type: 'fixed' | 'exponential'; delayMs: number }, attemptsMade: number) =>
    b.type === 'fixed' ? b.delayMs : b.delayMs * 2 ** Math.max(0, attemptsMade - 1),
  delivery: (schedule: number[], attempts: number, hint: number | null) =>
    Math.min(Math.max(schedule[Math.min(attempts - 1, schedule.length - 1)], hint ?? 0), 8 * 3600) * 1000,
  webhook: (attempts: number, baseMs: number, r: number) => Math.round(Math.min(baseMs * 2 ** Math.min(attempts - 1, 30), 2 * 3_600_000) * (0.75 + r * 0.5)),
};

const SCHEDULE = [60, 300, 900, 1800, 3600, 7200, 14400, 28800];
const delivery = (schedule: number[]): RetryPolicy => ({ scheduleMs: schedule.map((s) => s * 1000), capMs: 8 * 3_600_000 });
const webhook = (baseMs: number): RetryPolicy => ({ baseMs, capMs: 2 * 3_600_000, jitter: 0.25 });

describe('backoffMs', () => {
  it('walks a delivery schedule and repeats its last step', () => {
    const waits = [1, 2, 3, 8, 9, 50].map((n) => backoffMs(delivery(SCHEDULE), n));
    expect(waits).toEqual([60_000, 300_000, 900_000, 28_800_000, 28_800_000, 28_800_000]);
  });

  it("waits at least a server's hint, but never past the cap", () => {
    expect(backoffMs(delivery(SCHEDULE), 1, 600_000)).toBe(600_000);
    expect(backoffMs(delivery(SCHEDULE), 3, 60_000)).toBe(900_000);
    expect(backoffMs(delivery(SCHEDULE), 1, 48 * 3_600_000)).toBe(8 * 3_600_000);
    expect(backoffMs(delivery([86400]), 1)).toBe(8 * 3_600_000);
  });

  it('doubles from a base up to the cap, spread by jitter', () => {
    expect([1, 2, 3, 10, 11, 40].map((n) => backoffMs(webhook(10_000), n, null, () => 0.5))).toEqual([10_000, 20_000, 40_000, 5_120_000, 7_200_000, 7_200_000]);
    expect(backoffMs(webhook(10_000), 1, null, () => 0)).toBe(7_500);
    expect(backoffMs(webhook(10_000), 40, null, () => 0.999999)).toBeLessThanOrEqual(2 * 3_600_000 * 1.25);
    expect(backoffMs(webhook(10_000), 40, null, () => 0)).toBe(2 * 3_600_000 * 0.75);
  });

  it('gives the same delays as the queue backoff it replaced', () => {
    for (const delayMs of [1, 50, 200, 1000])
      for (let made = 0; made <= 20; made++) {
        expect(backoffMs({ scheduleMs: [delayMs] }, made)).toBe(before.queue({ type: 'fixed', delayMs }, made));
        expect(backoffMs({ baseMs: delayMs }, made)).toBe(before.queue({ type: 'exponential', delayMs }, made));
      }
  });

  it('gives the same delays as the delivery retry schedule it replaced', () => {
    for (const schedule of [SCHEDULE, [1], [5, 10], [0.2, 0.5], [86400, 60]])
      for (let attempts = 1; attempts <= 12; attempts++)
        for (const hint of [null, 0, 30, 120, 3600, 100_000])
          expect(backoffMs(delivery(schedule), attempts, hint === null ? null : hint * 1000)).toBe(before.delivery(schedule, attempts, hint));
  });

  it('answers whole milliseconds, so a test schedule in ms (RETRY_SCHEDULE_MS=1001 becomes 1.001 s) waits exactly that', () => {
    expect(before.delivery([1.001], 1, null)).not.toBe(1001);
    expect(backoffMs(delivery([1.001]), 1)).toBe(1001);
  });

  it('gives the same delays as the webhook retry rule it replaced', () => {
    for (const base of [10, 1000, 10_000, 3_600_000])
      for (let attempts = 1; attempts <= 40; attempts++)
        for (const r of [0, 0.1234, 0.5, 0.87654321, 0.999999])
          expect(backoffMs(webhook(base), attempts, null, () => r)).toBe(before.webhook(attempts, base, r));
  });
});
