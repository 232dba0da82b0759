/**
 * Memo (src/store/memo.ts), behind the store's suppression patterns and its packet size: one load shared while it
 * lasts, and a failed load dropped at once, not served to every caller for its time to live (a database away for a
 * moment made every send fail for ten minutes after it came back).
 */
import { Memo } from '../src/store/memo';

it('shares one load for its time to live, and drops a failed one at once', async () => {
  const memo = new Memo<number>(60_000);
  let loads = 0;
  const ok = () => Promise.resolve(++loads);
  expect(await Promise.all([memo.get(ok), memo.get(ok)])).toEqual([1, 1]);
  expect(await memo.get(ok)).toBe(1);
  memo.forget();
  const down = new Error('ECONNREFUSED');
  await expect(memo.get(() => Promise.reject(down))).rejects.toBe(down);
  expect(await memo.get(ok)).toBe(2);
  expect(await memo.get(ok)).toBe(2);
});
