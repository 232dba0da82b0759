/** Timing helpers shared by the benchmarks: warm up, run, report median and p95. */
export interface Timed {
  name: string;
  median: number;
  p95: number;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs `fn` `warmups` times (each must succeed), then `runs` times timed. */
export async function time(name: string, runs: number, fn: () => Promise<{ ok: boolean; body: unknown }>, warmups = 5): Promise<Timed> {
  for (let i = 0; i < warmups; i++) {
    const r = await fn();
    if (!r.ok) throw new Error(`${name} failed: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((x, y) => x - y);
  return { name, median: percentile(ms, 50), p95: percentile(ms, 95) };
}

/**
 * Runs `read` `warmups` times, then `runs` times timed; resolves to the median ms and what the last run answered
 * (a string to compare the forms of one read by).
 */
export async function medianRead(runs: number, warmups: number, read: () => Promise<string>): Promise<{ median: number; answer: string }> {
  const ms: number[] = [];
  let answer = '';
  for (let i = 0; i < warmups + runs; i++) {
    const t = process.hrtime.bigint();
    answer = await read();
    if (i >= warmups) ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((x, y) => x - y);
  return { median: percentile(ms, 50), answer };
}
