/**
 * The intake's DKIM key cache (src/inbound/dkim-key-cache.ts) on its own: what it keeps and for how long. The door
 * (reports over SMTP, lookups to a real DNS server) is exercised in complaint-trust.test.ts.
 */
import { cachedDkimResolver, DKIM_KEY_MISS_TTL_MS, DKIM_KEY_TTL_MS, dkimKeyCache } from '../../src/inbound/dkim-key-cache';

const KEY = 'v=DKIM1; k=rsa; p=AAAA';

/** A resolver whose lookups wait until `answer` or `fail` is called; `calls` counts them. */
function pendingResolver() {
  const waiting: { resolve: (v: string[][]) => void; reject: (e: unknown) => void }[] = [];
  let calls = 0;
  const resolver = (_name: string, _type: string) =>
    new Promise<string[][]>((resolve, reject) => {
      calls++;
      waiting.push({ resolve, reject });
    });
  return {
    resolver,
    calls: () => calls,
    answer: () => waiting.splice(0).forEach((w) => w.resolve([[KEY]])),
    fail: (code: string) => waiting.splice(0).forEach((w) => w.reject(Object.assign(new Error(code), { code }))),
  };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('cachedDkimResolver', () => {
  it('shares one lookup between concurrent asks for a name and keeps the answer for 5 minutes', async () => {
    const dns = pendingResolver();
    const cache = dkimKeyCache();
    const lookup = cachedDkimResolver(dns.resolver, cache);
    const asks = [lookup('s1._domainkey.fbl.example.net', 'TXT'), lookup('S1._domainkey.FBL.example.net', 'TXT')];
    dns.answer();
    expect(await Promise.all(asks)).toEqual([[[KEY]], [[KEY]]]);
    expect(await lookup('s1._domainkey.fbl.example.net', 'TXT')).toEqual([[KEY]]);
    expect(dns.calls()).toBe(1);
    expect(cache.getRemainingTTL('TXT s1._domainkey.fbl.example.net')).toBeGreaterThan(DKIM_KEY_TTL_MS - 1000);
  });

  it.each(['ENOTFOUND', 'ENODATA'])('keeps %s (no such key) for 30 seconds only', async (code) => {
    const dns = pendingResolver();
    const cache = dkimKeyCache();
    const lookup = cachedDkimResolver(dns.resolver, cache);
    const ask = lookup('s1._domainkey.fbl.example.net', 'TXT');
    dns.fail(code);
    await expect(ask).rejects.toMatchObject({ code });
    await settled();
    await expect(lookup('s1._domainkey.fbl.example.net', 'TXT')).rejects.toMatchObject({ code });
    expect(dns.calls()).toBe(1);
    const ttl = cache.getRemainingTTL('TXT s1._domainkey.fbl.example.net');
    expect(ttl).toBeGreaterThan(DKIM_KEY_MISS_TTL_MS - 1000);
    expect(ttl).toBeLessThan(DKIM_KEY_MISS_TTL_MS + 1000);
  });

  it.each(['ETIMEOUT', 'ESERVFAIL', 'EREFUSED', 'ECONNREFUSED'])('does not keep %s: the retry a temperror asks for looks up again', async (code) => {
    const dns = pendingResolver();
    const lookup = cachedDkimResolver(dns.resolver, dkimKeyCache());
    const ask = lookup('s1._domainkey.fbl.example.net', 'TXT');
    dns.fail(code);
    await expect(ask).rejects.toMatchObject({ code });
    await settled();
    const again = lookup('s1._domainkey.fbl.example.net', 'TXT');
    expect(dns.calls()).toBe(2);
    dns.answer();
    expect(await again).toEqual([[KEY]]);
  });

  it('holds at most its bound of names, dropping the least recently used', async () => {
    const dns = pendingResolver();
    const cache = dkimKeyCache(2);
    const lookup = cachedDkimResolver(dns.resolver, cache);
    for (const s of ['a', 'b', 'c']) {
      const ask = lookup(`${s}._domainkey.fbl.example.net`, 'TXT');
      dns.answer();
      await ask;
    }
    expect(cache.size).toBe(2);
    await lookup('c._domainkey.fbl.example.net', 'TXT');
    expect(dns.calls()).toBe(3);
    const ask = lookup('a._domainkey.fbl.example.net', 'TXT');
    dns.answer();
    await ask;
    expect(dns.calls()).toBe(4);
  });
});
