import crypto from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { DkimPool } from '../../src/delivery/dkim-pool';
import { dkimSign } from '../../src/delivery/dkim-sign';
import { DkimKeyCache } from '../../src/delivery/dkim-keys';

/** DKIM signing on worker threads gives what signing in-thread gives, and refuses to hand back a message a bad key left unsigned. */
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { domainName: 'example.com', keySelector: 'key1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() };
const dnsValue = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const raw = (i: number) =>
  Buffer.from(
    `From: App <app@example.com>\r\nTo: r${i}@dest.test\r\nSubject: threaded ${i}\r\nMessage-ID: <m${i}@example.com>\r\n\r\nbody ${i}\r\n.leading dot\r\n`,
  );

let pool: DkimPool;
beforeEach(() => (pool = new DkimPool(new DkimKeyCache(), 2)));
afterEach(() => pool.close());

describe('DKIM signing on worker threads', () => {
  it('signs byte for byte as the in-thread signer does, and the signature verifies', async () => {
    const threaded = await pool.sign(raw(1), key);
    expect(threaded.equals(await dkimSign(raw(1), key))).toBe(true);
    expect(threaded.toString()).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
    const v = await dkimVerify(threaded, {
      resolver: async (name: string) =>
        name === 'key1._domainkey.example.com' ? [[dnsValue]] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' })),
    });
    expect(v.results[0].status.result).toBe('pass');
  });

  it('keeps many concurrent signatures apart (each caller gets its own message back)', async () => {
    const out = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.sign(raw(i), key)));
    out.forEach((b, i) => {
      expect(b.toString()).toContain(`Subject: threaded ${i}\r\n`);
      expect(b.toString()).toContain(`To: r${i}@dest.test`);
    });
  });

  it('sends the signatures asked for in one turn of the event loop to each thread as one message', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => pool.sign(raw(i), key)));
    expect(pool.posts).toBe(2); // two threads, one message each
    await pool.sign(raw(41), key);
    expect(pool.posts).toBe(3);
  });

  it('a key the signer cannot use is a failure, on a thread and in-thread alike (never the message unsigned), and the pool keeps working', async () => {
    const bad = { ...key, privateKey: 'not a key' };
    await expect(pool.sign(raw(2), bad)).rejects.toThrow(/DKIM key of example\.com \(selector key1\) could not sign/);
    await expect(dkimSign(raw(2), bad)).rejects.toThrow(/could not sign/);
    expect((await pool.sign(raw(3), key)).toString()).toMatch(/^DKIM-Signature: .*Subject: threaded 3/s);
  });

  it('refuses work once closed', async () => {
    await pool.close();
    await expect(pool.sign(raw(4), key)).rejects.toThrow('closed');
  });
});
