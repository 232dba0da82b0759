import { HOUR_MS } from '../../src/stats/rollups';

/**
 * Waits for the next UTC hour when less than `seconds` are left of this one: a test whose steps must fall in one
 * rollup hour (a lift and the outcomes after it) starts with at least that long in it.
 */
export async function roomInTheHour(seconds: number): Promise<void> {
  const left = HOUR_MS - (Date.now() % HOUR_MS);
  if (left < seconds * 1000) await new Promise((r) => setTimeout(r, left + 100));
}
