/**
 * CostBoundedCache (src/store/cost-bounded.ts), behind campaign progress, account.overview's Contacts and
 * GET /api/v1/contacts's total: what it keeps, how it retries a failed recount, and what idle() waits for. The clock
 * is Date.now, moved by each load to give it a cost.
 */
import { CostBoundedCache } from '../src/store/cost-bounded';

let now = 1_000_000;
beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
afterEach(() => jest.restoreAllMocks());

/** A load that costs `ms` on the clock and counts its calls. */
function costing(ms: number, value = 1) {
  const l = { calls: 0, load: () => Promise.resolve().then(() => ((now += ms), ++l.calls, value)) };
  return l;
}
const noError = (err: unknown) => {
  throw err;
};

it('keeps only costly values, so cheap keys read once each do not push a costly one out', async () => {
  const cache = new CostBoundedCache<string, number>(50);
  const big = costing(100);
  expect(await cache.get('big', big.load, noError)).toBe(1);
  for (let i = 0; i < 1_500; i++) await cache.get(`small-${i}`, costing(0).load, noError);
  now += 1_000; // within its reuse (20 x 100 ms = 2 s)
  expect(await cache.get('big', big.load, noError)).toBe(1);
  expect(big.calls).toBe(1);
  // A cheap key is counted on every read.
  const small = costing(1);
  await cache.get('small', small.load, noError);
  await cache.get('small', small.load, noError);
  expect(small.calls).toBe(2);
});

it('tries a failed recount again only after another reuse interval, keeping the old value meanwhile', async () => {
  const cache = new CostBoundedCache<string, number>(50);
  expect(await cache.get('k', costing(100, 7).load, noError)).toBe(7);
  now += 2_000; // stale: the next read recounts in the background
  let tries = 0;
  const failing = () => Promise.resolve().then(() => ((now += 100), tries++, Promise.reject(new Error('timeout'))));
  const errors: unknown[] = [];
  const onError = (err: unknown) => void errors.push(err);
  expect(await cache.get('k', failing, onError)).toBe(7);
  await new Promise((r) => setImmediate(r));
  expect([tries, errors.length]).toEqual([1, 1]);
  for (let i = 0; i < 5; i++) {
    now += 100;
    expect(await cache.get('k', failing, onError)).toBe(7);
  }
  await new Promise((r) => setImmediate(r));
  expect(tries).toBe(1);
  now += 2_000;
  await cache.get('k', failing, onError);
  await new Promise((r) => setImmediate(r));
  expect(tries).toBe(2);
});

it('does not let a throwing error handler become an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const cache = new CostBoundedCache<string, number>(50);
    await cache.get('k', costing(100).load, noError);
    now += 2_000;
    // A rejection that is not an Error: a handler reading `.message` off it throws.
    await cache.get(
      'k',
      () => Promise.reject(undefined),
      (err) => void (err as Error).message,
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

it('idle() waits for a count whose key was forgotten while it ran', async () => {
  const cache = new CostBoundedCache<string, number>(50);
  let finish!: (v: number) => void;
  const reading = cache.get('k', () => new Promise<number>((r) => (finish = r)), noError);
  cache.forget('k');
  let idle = false;
  const waiting = cache.idle().then(() => (idle = true));
  await new Promise((r) => setTimeout(r, 20));
  expect(idle).toBe(false);
  finish(3);
  await waiting;
  expect(await reading).toBe(3);
});
