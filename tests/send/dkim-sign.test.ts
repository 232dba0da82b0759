import crypto from 'node:crypto';
import fc from 'fast-check';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { dkimSign, foldSignature, OVERSIGNED, planSignature, relaxedBody } from '../../src/delivery/dkim-sign';

/**
 * The DKIM signer against mailauth's verifier (an independent implementation): an explicit header list with
 * both List-Unsubscribe headers, From/Subject/To/Date (and Sender, Reply-To, Cc, List-Unsubscribe, List-Unsubscribe-Post)
 * over-signed, so a header
 * added after signing, above or below ours, fails verification.
 */
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { domainName: 'example.com', keySelector: 'key1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() };
const dnsValue = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const resolver = async (name: string) =>
  name === 'key1._domainkey.example.com' ? [[dnsValue]] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }));

async function verdict(message: Buffer | string): Promise<string> {
  const v = await dkimVerify(Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1'), { resolver });
  return v.results[0].status.result;
}

const MESSAGE = [
  'From: Shop <shop@example.com>',
  'To: Jane <jane@dest.test>',
  'Cc: carl@dest.test',
  'Subject: Your order',
  'Date: Mon, 23 Nov 2026 02:00:00 +0000',
  'Message-ID: <m1@example.com>',
  'List-Unsubscribe: <https://track.example.com/t/u/abc>',
  'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
  'X-Campaign: spring',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Jane,',
  '',
  'your order has shipped.',
  '',
].join('\r\n');

/** The h= tag of the first DKIM-Signature, unfolded, as a list of names. */
function signedNames(signed: Buffer): string[] {
  const head = signed
    .toString('latin1')
    .split('\r\n\r\n')[0]
    .replace(/\r\n[ \t]+/g, ' ');
  const h = /^DKIM-Signature:.*?\bh=([^;]+);/m.exec(head)![1];
  return h.split(':').map((n) => n.trim());
}

/** Inserts a header line before the first line starting with `before` (or at the end of the header block). */
function insertHeader(signed: Buffer, line: string, before?: string): string {
  const text = signed.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const at = !before ? end + 2 : text.startsWith(before) ? 0 : text.indexOf(`\r\n${before}`) + 2;
  if (at === 1) throw new Error(`no ${before} header`);
  return text.slice(0, at) + `${line}\r\n` + text.slice(at);
}

/**
 * SMTP ends every message with CRLF before the final dot, so a receiver never sees a body without one. (mailauth
 * keeps trailing whitespace on a last line that has no CRLF, where RFC 6376 §3.4.4 drops it; both agree once the
 * CRLF is there.)
 */
const asTransmitted = (m: Buffer) => (m.subarray(-2).toString() === '\r\n' ? m : Buffer.concat([m, Buffer.from('\r\n')]));

describe('DKIM signing', () => {
  let signed: Buffer;
  beforeAll(async () => {
    signed = await dkimSign(Buffer.from(MESSAGE), key);
  });

  it('passes mailauth verification and signs both List-Unsubscribe headers', async () => {
    expect(await verdict(signed)).toBe('pass');
    const names = signedNames(signed);
    expect(names).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post', 'message-id', 'mime-version', 'content-type']));
    expect(names).not.toContain('x-campaign');
  });

  it('lists From, Subject, To, Date, Cc, List-Unsubscribe(-Post) once more than they occur, Sender and Reply-To once though absent', () => {
    const names = signedNames(signed);
    const times = (n: string) => names.filter((x) => x === n).length;
    for (const n of ['from', 'subject', 'to', 'date', 'cc', 'list-unsubscribe', 'list-unsubscribe-post'])
      expect({ n, times: times(n) }).toEqual({ n, times: 2 });
    for (const n of ['sender', 'reply-to']) expect({ n, times: times(n) }).toEqual({ n, times: 1 });
    expect(times('message-id')).toBe(1);
  });

  it.each([
    ['a second From above ours', 'From: Bank <security@bank.test>', 'From:'],
    ['a second From below ours', 'From: Bank <security@bank.test>', undefined],
    ['a Subject at the top', 'Subject: Urgent: verify your account', 'DKIM-Signature:'],
    ['a Subject at the bottom', 'Subject: Urgent: verify your account', undefined],
    ['another To', 'To: someone@else.test', undefined],
    ['another Date', 'Date: Tue, 24 Nov 2026 02:00:00 +0000', 'From:'],
    ['a Reply-To', 'Reply-To: attacker@evil.test', undefined],
    ['a Cc', 'Cc: attacker@evil.test', 'From:'],
    ['a Sender', 'Sender: attacker@evil.test', undefined],
    ['a second List-Unsubscribe above ours', 'List-Unsubscribe: <https://evil.test/u>', 'From:'],
    ['a second List-Unsubscribe-Post above ours', 'List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'From:'],
  ])('fails verification when %s is added after signing', async (_what, line, before) => {
    expect(await verdict(insertHeader(signed, line, before))).toBe('fail');
  });

  it('fails verification when List-Unsubscribe-Post is changed or removed', async () => {
    const text = signed.toString('latin1');
    expect(await verdict(text.replace('List-Unsubscribe=One-Click', 'List-Unsubscribe=Two-Click'))).toBe('fail');
    expect(await verdict(text.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n', ''))).toBe('fail');
  });

  it('still passes when a header it does not sign is added (Received, as every hop does)', async () => {
    expect(await verdict(insertHeader(signed, 'Received: from mx.example.com by mx.dest.test; Mon, 23 Nov 2026 02:00:01 +0000', 'DKIM-Signature:'))).toBe(
      'pass',
    );
  });

  it('signs every instance of a repeated header, counted from the bottom', async () => {
    const twoTo = MESSAGE.replace('To: Jane <jane@dest.test>\r\n', 'To: Jane <jane@dest.test>\r\nTo: Joe <joe@dest.test>\r\n');
    const s = await dkimSign(Buffer.from(twoTo), key);
    expect(signedNames(s).filter((n) => n === 'to')).toHaveLength(3);
    expect(await verdict(s)).toBe('pass');
    expect(await verdict(s.toString('latin1').replace('To: Joe', 'To: Bob'))).toBe('fail');
  });

  it('verifies a body whose last line has trailing whitespace and no CRLF, as SMTP delivers it', async () => {
    for (const body of [' ', 'abc ', 'abc\t\t', 'a\r\n  ']) {
      const signed = await dkimSign(Buffer.from(`${MESSAGE.split('\r\n\r\n')[0]}\r\n\r\n${body}`), key);
      expect({ body, v: await verdict(asTransmitted(signed)) }).toEqual({ body, v: 'pass' });
    }
  });

  it('canonicalizes the body as RFC 6376 §3.4.4 relaxed says', () => {
    expect(relaxedBody(Buffer.from('a  b\t c \r\n\t\r\nd\t\r\n\r\n\r\n')).toString()).toBe('a b c\r\n\r\nd\r\n');
    expect(relaxedBody(Buffer.from('no newline at the end')).toString()).toBe('no newline at the end\r\n');
    expect(relaxedBody(Buffer.from('bare\nLF\n\n')).toString()).toBe('bare\r\nLF\r\n');
    expect(relaxedBody(Buffer.from('\r\n\r\n')).length).toBe(0);
    expect(relaxedBody(Buffer.alloc(0)).length).toBe(0);
  });

  it('verifies for any header folding and body whitespace', async () => {
    const line = fc.stringMatching(/^[a-zA-Z0-9 \t.,:;<>@=-]{0,90}$/);
    const body = fc.array(line, { maxLength: 8 }).map((lines) => lines.join('\r\n'));
    const subject = fc.array(fc.stringMatching(/^[a-zA-Z0-9.,!?-]{1,20}$/), { minLength: 1, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(subject, fc.constantFrom(' ', '\t', '  '), fc.boolean(), body, fc.nat({ max: 3 }), async (words, ws, foldIt, text, trailing) => {
        const subjectLine = `Subject:${ws}${words.join(foldIt ? '\r\n ' : ws)}${ws}`;
        const raw = MESSAGE.split('\r\n\r\n')[0].replace('Subject: Your order', subjectLine) + '\r\n\r\n' + text + '\r\n'.repeat(trailing);
        expect(await verdict(asTransmitted(await dkimSign(Buffer.from(raw, 'latin1'), key)))).toBe('pass');
      }),
      { numRuns: 40 },
    );
  });

  it('canonicalizes any header value as the RFC 6376 §3.4.2 rules written as regular expressions do (the fast path for one-line values included)', () => {
    const reference = (v: string) =>
      v
        .replace(/\r?\n/g, '')
        .replace(/[ \t]+/g, ' ')
        .replace(/^ | $/g, '');
    const value = fc.array(fc.constantFrom('a', 'Z', '<x@y>', ' ', '  ', '\t', ' \t', '\r\n ', '\r\n\t', '\r', ';', '=?utf-8?q?=C3=A9?='), { maxLength: 12 });
    fc.assert(
      fc.property(value, (parts) => {
        const v = parts.join('');
        // A value must not end the header block: a fold needs something after it on its line.
        fc.pre(!/\r\n[ \t]*$/.test(v));
        const plan = planSignature(Buffer.from(`Subject:${v}\r\nFrom: a@example.com\r\n\r\nbody\r\n`, 'latin1'), key);
        expect(plan.data.toString('latin1')).toContain(`from:a@example.com\r\nsubject:${reference(v)}\r\n`);
      }),
      { numRuns: 500 },
    );
  });

  it('folds b= as nodemailer does: 73 characters on the first line, 75 on each after', () => {
    for (let n = 0; n <= 400; n++) {
      const sig = 'Ab+/'.repeat(100).slice(0, n);
      expect(foldSignature(sig)).toBe(sig.replace(/(^.{73}|.{75}(?!\r?\n|\r))/g, '$&\r\n ').trim());
    }
  });

  it('over-signs exactly the headers the docs name', () => {
    expect([...OVERSIGNED].sort()).toEqual(['cc', 'date', 'from', 'list-unsubscribe', 'list-unsubscribe-post', 'reply-to', 'sender', 'subject', 'to']);
  });
});
