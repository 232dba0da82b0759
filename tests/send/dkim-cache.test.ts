import crypto from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { DkimKeyCache } from '../../src/delivery/dkim-keys';
import { DkimPool } from '../../src/delivery/dkim-pool';
import { dkimSign } from '../../src/delivery/dkim-sign';
import { dkimVerdict } from '../helpers/dkim';

/**
 * DKIM keys parsed once (issue 15 §2): signing with a cached KeyObject, in-thread or on the pool's threads, gives
 * exactly the bytes signing from the PEM gave, and a changed key for the same domain and selector is used at once.
 */
function keyPair() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    dns: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
  };
}
const first = keyPair();
const second = keyPair();
const key = (pem: string, domainName = 'example.com') => ({ domainName, keySelector: 'key1', privateKey: pem });

/** A message as the API composes one: HTML and text, quoted-printable, List-Unsubscribe. */
function compose(i: number, domain = 'example.com'): Promise<Buffer> {
  const html = `<p>Dear customer ${i},   your order has shipped. Track it <a href="https://t.${domain}/c/${i}">here</a>.</p>\n`.repeat(40);
  return new MailComposer({
    from: `Shop <shop@${domain}>`,
    to: `Customer <c${i}@dest.test>`,
    cc: 'carl@dest.test',
    subject: `Your order ${i} – ünïcode`,
    html,
    text: html.replace(/<[^>]+>/g, ''),
    messageId: `<m${i}@${domain}>`,
    date: new Date('2026-11-29T12:00:00Z'),
    headers: { 'List-Unsubscribe': `<https://t.${domain}/u/${i}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  })
    .compile()
    .build();
}

let pool: DkimPool;
afterEach(() => pool?.close());

describe('DKIM keys parsed once', () => {
  it('signs byte for byte as from the PEM, in-thread and on threads, and mailauth verifies it', async () => {
    const keys = new DkimKeyCache();
    pool = new DkimPool(keys, 2);
    for (let i = 0; i < 6; i++) {
      const raw = await compose(i);
      const fromPem = await dkimSign(raw, key(first.pem)); // the path before the cache: PEM handed to crypto.sign
      const cached = await dkimSign(raw, key(first.pem), keys);
      const threaded = await pool.sign(raw, key(first.pem));
      expect(cached.equals(fromPem)).toBe(true);
      expect(threaded.equals(fromPem)).toBe(true);
      expect((await dkimVerdict(threaded, 'example.com', first.dns)).result).toBe('pass');
    }
    // One parse per thread for all of them: the PEM crossed to each of the two threads once.
    expect(pool.keyTransfers).toBe(2);
  });

  it('uses a changed key for the same domain and selector at once, in-thread and on threads', async () => {
    const keys = new DkimKeyCache();
    pool = new DkimPool(keys, 1);
    const raw = await compose(1);
    const before = keys.get(key(first.pem));
    expect(keys.get(key(first.pem))).toBe(before);
    expect((await dkimVerdict(await pool.sign(raw, key(first.pem)), 'example.com', first.dns)).result).toBe('pass');

    const onThread = await pool.sign(raw, key(second.pem));
    const inThread = await dkimSign(raw, key(second.pem), keys);
    expect(keys.get(key(second.pem)).id).not.toBe(before.id);
    expect(onThread.equals(await dkimSign(raw, key(second.pem)))).toBe(true);
    expect(inThread.equals(onThread)).toBe(true);
    expect((await dkimVerdict(onThread, 'example.com', second.dns)).result).toBe('pass');
    expect((await dkimVerdict(onThread, 'example.com', first.dns)).result).not.toBe('pass');
    expect(keys.size).toBe(1); // the new version replaced the old under the same domain and selector
  });

  it('stays bounded, and signs right after keys were evicted on either side', async () => {
    const keys = new DkimKeyCache(2);
    pool = new DkimPool(keys, 1);
    const domains = ['a.test', 'b.test', 'c.test'];
    for (let round = 0; round < 2; round++) {
      for (const d of domains) {
        const raw = await compose(round, d);
        const signed = await pool.sign(raw, key(first.pem, d));
        expect(signed.equals(await dkimSign(raw, key(first.pem, d)))).toBe(true);
        expect((await dkimVerdict(signed, d, first.dns)).result).toBe('pass');
      }
    }
    expect(keys.size).toBe(2);
    expect(pool.keyTransfers).toBe(6); // three keys through a cache of two: each had to be sent again
  });

  it('fails a key that does not parse every time, on threads and in-thread, and keeps signing with good keys', async () => {
    const keys = new DkimKeyCache();
    pool = new DkimPool(keys, 1);
    const raw = await compose(2);
    const bad = key('-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n', 'bad.test');
    // The second try finds the thread without the key (nothing was cached for it) and sends the PEM again.
    await expect(pool.sign(raw, bad)).rejects.toThrow(/DKIM key of bad\.test \(selector key1\) could not sign/);
    await expect(pool.sign(raw, bad)).rejects.toThrow(/DKIM key of bad\.test \(selector key1\) could not sign/);
    await expect(dkimSign(raw, bad, keys)).rejects.toThrow(/could not sign/);
    await expect(dkimSign(raw, bad, keys)).rejects.toThrow(/could not sign/);
    expect(pool.keyTransfers).toBe(2);
    expect((await pool.sign(raw, key(first.pem))).equals(await dkimSign(raw, key(first.pem)))).toBe(true);
  });
});
