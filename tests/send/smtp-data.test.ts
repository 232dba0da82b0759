import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { smtpDataParts } from '../../src/delivery/smtp-data';

/**
 * smtpDataParts must write what nodemailer's DataStream writes for a message handed over as one chunk (how
 * SmtpPool used to send it): the same dot-stuffing, line-ending repairs and end marker, byte for byte.
 */

function viaDataStream(raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const ds = new DataStream();
    const out: Buffer[] = [];
    ds.on('data', (c: Buffer) => out.push(c));
    ds.on('end', () => resolve(Buffer.concat(out)));
    ds.on('error', reject);
    ds.end(raw);
  });
}

const direct = (raw: Buffer) => Buffer.concat(smtpDataParts(raw));

/** A small deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('smtpDataParts (the DATA section as DataStream writes it)', () => {
  it.each([
    ['an empty message', ''],
    ['a CRLF message without a dot at a line start', 'Subject: x\r\n\r\nbody\r\n'],
    ['a dot as the first byte', '.starts with a dot\r\n'],
    ['dots after CRLF, a lone dot line and two dots', 'a\r\n.b\r\n.\r\n..c\r\nd'],
    ['bare LFs, one before a dot', 'a\nb\n.c\n\n'],
    ['bare CRs, one before a dot and one at the end', 'a\rb\r.c\r'],
    ['CR CR LF and LF CR', 'a\r\r\nb\n\rc\r\n'],
    ['only line breaks', '\r\n\n\r\r\n.'],
    ['a message ending without a line break', 'x: y\r\n\r\nno break at the end'],
    ['a message ending in CR LF dot', 'x\r\n.'],
  ])('%s', async (_name, text) => {
    const raw = Buffer.from(text, 'latin1');
    expect(direct(raw).toString('latin1')).toBe((await viaDataStream(raw)).toString('latin1'));
  });

  it('gives the same bytes as DataStream on 3,000 random messages of dots, CRs, LFs and text', async () => {
    const alphabet = [0x2e, 0x0d, 0x0a, 0x61, 0x20, 0xc3];
    for (let seed = 1; seed <= 3000; seed++) {
      const next = rng(seed);
      const raw = Buffer.from(Array.from({ length: Math.floor(next() * 60) }, () => alphabet[Math.floor(next() * alphabet.length)]));
      const got = direct(raw);
      const want = await viaDataStream(raw);
      if (!got.equals(want)) throw new Error(`seed ${seed}: ${JSON.stringify(raw.toString('latin1'))} gave ${JSON.stringify(got.toString('latin1'))}`);
    }
  });

  it('hands a usual message over as itself plus the end marker, without copying it', () => {
    const raw = Buffer.from('Subject: x\r\n\r\nline one\r\nline two\r\n');
    const parts = smtpDataParts(raw);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(raw);
    expect(parts[1].toString()).toBe('.\r\n');
  });
});
