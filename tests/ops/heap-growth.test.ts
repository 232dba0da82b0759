/**
 * HEAP_GROWING_PERCENT (src/heap-growth.ts): `postern <role>` sets V8's heap growth at start-up unless the operator
 * gave the flag to node; and the premise, that V8 honours the flag set at run time, checked in a child process.
 */
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import { limitHeapGrowth } from '../../src/heap-growth';

afterAll(() => v8.setFlagsFromString('--heap-growing-percent=0'));

describe('limitHeapGrowth', () => {
  it('leaves V8 alone at 0 and when node was given the flag on its command line or in NODE_OPTIONS', () => {
    expect(limitHeapGrowth(0, [], '')).toBe(false);
    expect(limitHeapGrowth(30, ['--heap-growing-percent=50'], '')).toBe(false);
    expect(limitHeapGrowth(30, [], '--max-old-space-size=2048 --heap_growing_percent=80')).toBe(false);
    expect(limitHeapGrowth(30, ['--max-semi-space-size=8'], '--enable-source-maps')).toBe(true);
  });

  it('keeps a churning heap near its live size once set at run time (V8 reads the flag at every GC)', () => {
    // 40 MB stays live while 600 MB of short-lived 1 MB arrays pass through the old generation.
    const script = (setFlag: boolean) => `
      ${setFlag ? "require('v8').setFlagsFromString('--heap-growing-percent=20');" : ''}
      const live = Array.from({ length: 40 }, () => new Array(131072).fill(1));
      let peak = 0, keep = [];
      for (let i = 0; i < 600; i++) {
        keep.push(new Array(131072).fill(i));
        if (keep.length > 8) keep = keep.slice(4);
        peak = Math.max(peak, process.memoryUsage().heapTotal);
      }
      process.stdout.write(String(Math.round(peak / 1048576) + live.length * 0));`;
    const peakMb = (setFlag: boolean) => Number(spawnSync(process.execPath, ['-e', script(setFlag)], { encoding: 'utf8' }).stdout);
    const defaultPeak = peakMb(false);
    const limitedPeak = peakMb(true);
    expect(limitedPeak).toBeGreaterThan(40);
    expect(limitedPeak).toBeLessThan(defaultPeak);
  });
});
