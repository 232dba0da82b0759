import { rewriteHeaders } from '../../src/mail/accept-raw';

/**
 * rewriteHeaders finds the header block in the bytes and decodes only it (accept-raw.ts, headerBlock); it used to
 * decode the whole message and find the block with a regular expression. The two must split every message alike:
 * the old code is kept here as the reference and both run on many generated messages, bare CRs and LFs included.
 */
function reference(raw: Buffer): { mime: Buffer; fields: string[]; all: string[] } {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const headEnd = m ? m.index : text.length;
  const bodyStart = m ? m.index + m[0].length : text.length;
  const lines = text.slice(0, headEnd).split(/\r?\n/);
  const fields: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1] += `\r\n${line}`;
    else if (line) fields.push(line);
  }
  const kept = fields.filter((f) => !/^(bcc|return-path)\s*:/i.test(f));
  const mime = Buffer.concat([Buffer.from(`${kept.join('\r\n')}\r\n\r\n`, 'latin1'), raw.subarray(Buffer.byteLength(text.slice(0, bodyStart), 'latin1'))]);
  return { mime, fields: kept, all: fields };
}

it('splits header and body as the regular expression on the whole text did', () => {
  // Message-ID and Date come first so that neither side adds one (a new Message-ID differs every time).
  const start = 'Message-ID: <m@bench.example>\r\nDate: Mon, 30 Nov 2026 23:00:00 +0000\r\n';
  const pieces = ['\r\n', '\n', '\r', ' ', '\t', 'From: <a@b.c>', 'Bcc: x@y', 'Return-Path: <r@s>', 'X-A: 1', 'body', '\xe9', ':'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let i = 0; i < 50_000; i++) {
    let tail = '';
    for (let j = 0, n = next() % 12; j < n; j++) tail += pieces[next() % pieces.length];
    const raw = Buffer.from(start + tail, 'latin1');
    const got = rewriteHeaders(raw, 'bench.example');
    const want = reference(raw);
    if (!got.mime.equals(want.mime) || JSON.stringify([got.fields, got.all]) !== JSON.stringify([want.fields, want.all]))
      throw new Error(`differs for ${JSON.stringify(tail)}`);
  }
  const plain = rewriteHeaders(Buffer.from(`${start}Subject: hi\r\n\r\nbody\r\n`), 'bench.example');
  expect(plain.mime.toString()).toBe(`${start}Subject: hi\r\n\r\nbody\r\n`);
  expect(plain.messageIdHeader).toBe('<m@bench.example>');
});
