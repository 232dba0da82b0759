import { trackIdSource } from '../../src/tracking/tokens';

describe('trackIdSource', () => {
  it('gives distinct 128-bit ids, drawing again when more are asked than expected', () => {
    const next = trackIdSource(3);
    const ids = Array.from({ length: 100 }, () => next());
    expect(new Set(ids).size).toBe(100);
    for (const id of ids) expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('shares nothing between two sources', () => {
    const a = trackIdSource(16);
    const b = trackIdSource(16);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      seen.add(a());
      seen.add(b());
    }
    expect(seen.size).toBe(80);
  });
});
