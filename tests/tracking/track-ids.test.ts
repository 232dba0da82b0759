import { TrackIdPool } from '../../src/tracking/tokens';

describe('TrackIdPool', () => {
  it('gives distinct 128-bit ids, across several draws of its pool', () => {
    const pool = new TrackIdPool();
    // 4 KiB a draw is 256 ids: 1,000 ids take four draws.
    const ids = Array.from({ length: 1000 }, () => pool.next());
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('shares nothing between two pools', () => {
    const a = new TrackIdPool();
    const b = new TrackIdPool();
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      seen.add(a.next());
      seen.add(b.next());
    }
    expect(seen.size).toBe(600);
  });
});
