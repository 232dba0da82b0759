/**
 * The SMTP front's message row ids (src/mail/row-ids.ts): UUIDv7s that keep increasing within a generator, past 4,096
 * ids in one millisecond and across a clock that steps back. (tests/smtp/front drives them through the front.)
 */
import { createRowIds } from '../../src/mail/row-ids';

const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

it('carries the given milliseconds, and increases within one millisecond past its 4,096th id by borrowing the next', () => {
  const ids = createRowIds();
  const now = 1_800_000_000_000;
  const made = Array.from({ length: 5000 }, () => ids.next(now));
  for (const id of made) expect(id).toMatch(V7);
  expect(msOf(made[0])).toBe(now);
  expect(msOf(made[4095])).toBe(now);
  expect(msOf(made[4096])).toBe(now + 1);
  expect([...made].sort()).toEqual(made);
  expect(new Set(made).size).toBe(made.length);
});

it('keeps increasing when the clock steps back, and follows it again once it passes the last id', () => {
  const ids = createRowIds();
  const a = ids.next(2_000_000);
  const b = ids.next(1_000_000);
  const c = ids.next(2_000_005);
  expect([a, b, c].sort()).toEqual([a, b, c]);
  expect(msOf(b)).toBe(2_000_000);
  expect(msOf(c)).toBe(2_000_005);
});

it('gives each generator its own sequence (one per Services)', () => {
  const [x, y] = [createRowIds(), createRowIds()];
  const now = 1_900_000_000_000;
  expect(x.next(now).slice(0, 18)).toBe(y.next(now).slice(0, 18));
});
