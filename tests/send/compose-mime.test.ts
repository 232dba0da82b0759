/**
 * MessageMime (src/mail/message-mime.ts), the per-message MIME the worker composes each recipient's copy from, gives
 * byte for byte what composeMime (nodemailer's MailComposer, streamed) gives for the same input and boundary: on
 * hand-picked tricky inputs, and on random ones that aim at the encoders' seams (whitespace, `=`, line lengths,
 * non-ASCII, CR and LF).
 */
import crypto from 'node:crypto';
import { ComposeInput, composeMime } from '../../src/mail/compose';
import MimeNode from 'nodemailer/lib/mime-node';
import { MessageBase, MessageMime, MimeShapes, MimeVariant, transferEncoding } from '../../src/mail/message-mime';

const BOUNDARY = 'c0ffee0123456789';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

const base = (over: Partial<MessageBase> = {}): MessageBase => ({
  from: { name: 'Jürgen “the shop” Øster', email: 'shop@example.com' },
  to: [
    { name: 'Reader, A.', email: 'reader@recipient.test' },
    { name: '', email: 'plain@recipient.test' },
  ],
  cc: [{ name: '日本語の名前', email: 'cc@recipient.test' }],
  replyTo: [{ name: 'Help', email: 'help@example.com' }],
  headers: {
    'X-Campaign': 'spring',
    'X-Long': 'word '.repeat(40).trim(),
    'X-Unicode': 'Grüße aus Köln — ✓',
    'X-Inject': 'a\r\nBcc: evil@attacker.test\r\nX-Injected: yes',
  },
  attachments: [],
  messageIdHeader: '<0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000@example.com>',
  date: new Date(Date.UTC(2026, 10, 30, 5, 0, 0)),
  ...over,
});

async function expectSame(b: MessageBase, v: MimeVariant, mime = new MessageMime(b, BOUNDARY)): Promise<Buffer> {
  const input: ComposeInput = { ...b, subject: v.subject, html: v.html, text: v.text, headers: { ...b.headers, ...v.headers } };
  const want = await composeMime(input, { baseBoundary: mime.baseBoundary });
  const got = mime.compose(v);
  expect(got.toString('latin1')).toBe(want.toString('latin1'));
  return got;
}

const HTML = '<!DOCTYPE html><html><body><p>Hello <b>there</b> — ünïcödé, a=b</p>\n' + '<p>' + 'long line '.repeat(30) + '</p>\n</body></html>\n';
const TEXT = 'Hello there,\n\nsee https://shop.example/item?a=1&b=2 \t\n' + 'x'.repeat(200) + '\n';
const unsub = { 'List-Unsubscribe': '<http://track.example/t/u/abc>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };

describe('MessageMime gives composeMime’s bytes', () => {
  const shapes: [string, Partial<MessageBase>, MimeVariant][] = [
    ['html and text', {}, { subject: 'Order #1', html: HTML, text: TEXT }],
    ['html only', {}, { subject: 'Order #1', html: HTML }],
    ['text only (a single-part message)', {}, { subject: 'Order #1', text: TEXT }],
    ['text only, ASCII with short lines (7bit)', {}, { subject: 'Hi', text: 'short\nlines' }],
    ['neither body', {}, { subject: 'Empty' }],
    ['non-ASCII subject, folded', {}, { subject: 'Ihre Bestellung über 12 € ist unterwegs — 注文番号 12345 の発送のお知らせ '.repeat(2), html: HTML }],
    ['subject with CRLF', {}, { subject: 'Hello\r\nBcc: evil@attacker.test', text: TEXT }],
    ['empty subject', {}, { subject: '', html: HTML, text: TEXT }],
    ['mostly non-Latin bodies (base64)', {}, { subject: 'Привет', html: '<p>' + 'Привет, как дела? '.repeat(30) + '</p>', text: 'Привет мир '.repeat(20) }],
    ['per-recipient headers', {}, { subject: 'News', html: HTML, text: TEXT, headers: unsub }],
    ['per-recipient header with CRLF', {}, { subject: 'News', text: TEXT, headers: { 'List-Unsubscribe': '<http://x/u>\r\nX-Injected: yes' } }],
    [
      'per-recipient header replacing the message’s own',
      { headers: { 'List-Unsubscribe': '<mailto:u@example.com>', 'X-A': '1' } },
      { subject: 'N', html: HTML, headers: unsub },
    ],
    [
      'per-recipient header beside a differently cased one',
      { headers: { 'list-unsubscribe': '<mailto:u@example.com>' } },
      { subject: 'N', html: HTML, headers: unsub },
    ],
    ['a Subject among the message’s headers', { headers: { Subject: 'from headers', 'X-B': '2' } }, { subject: 'the real one', text: TEXT }],
    ['a Subject among the headers, empty subject', { headers: { Subject: 'from headers' } }, { subject: '', text: TEXT }],
    [
      'attachments beside html and text',
      { attachments: [{ filename: 'Rechnung März.pdf', content: crypto.randomBytes(5000), contentType: 'application/pdf', disposition: 'attachment' }] },
      { subject: 'Invoice', html: HTML, text: TEXT },
    ],
    [
      'inline cid image (related) and an attachment',
      {
        attachments: [
          { filename: 'logo.png', content: PNG, contentType: 'image/png', disposition: 'inline', contentId: 'logo@example.com' },
          { filename: 'notes.txt', content: Buffer.from('plain notes\n'), disposition: 'attachment' },
        ],
      },
      { subject: 'With logo', html: '<img src="cid:logo@example.com">' + HTML, text: TEXT, headers: unsub },
    ],
    ['one attachment, no body', { attachments: [{ filename: 'data.bin', content: crypto.randomBytes(300), disposition: 'attachment' }] }, { subject: 'Data' }],
    [
      'inline image with text only (mixed)',
      { attachments: [{ filename: 'logo.png', content: PNG, contentType: 'image/png', disposition: 'inline', contentId: 'logo' }] },
      { subject: 'x', text: TEXT },
    ],
    ['trailing whitespace', {}, { subject: 'ws', html: '<p>a</p>  \t ', text: 'end with spaces   ' }],
    ['long lines without spaces', {}, { subject: 'x', html: 'a'.repeat(3000) + '=' + 'ü'.repeat(500), text: '='.repeat(1000) }],
    ['bare CR and LF in bodies', {}, { subject: 'x', html: 'a\rb\nc\r\nd\n\r', text: 'line\r\n.\r\nnext\r' }],
    [
      'body over 64 KiB with whitespace at the encoder’s slice seam',
      {},
      { subject: 'big', text: 'y'.repeat(65535) + ' z' + ' ü'.repeat(40000), html: 'x'.repeat(65535) + ' \n' + 'ä'.repeat(70000) + '   ' },
    ],
  ];
  it.each(shapes)('%s', async (_name, over, v) => {
    await expectSame(base(over), v);
  });

  it('matches around the quoted-printable encoder’s 64 KiB slice seam', async () => {
    const b = base();
    const mime = new MessageMime(b, BOUNDARY);
    for (const pad of [65533, 65534, 65535, 65536])
      for (const tail of [' z', '  z', '\tz', ' \n', ' \r\n', 'ü z', ' ', '= z'])
        await expectSame(b, { subject: 's', text: 'y'.repeat(pad) + tail + ' more' }, mime);
  });

  it('serves many recipients of one message from one instance, whatever shape each copy takes', async () => {
    const b = base({ attachments: [{ filename: 'a.pdf', content: crypto.randomBytes(2000), contentType: 'application/pdf', disposition: 'attachment' }] });
    const mime = new MessageMime(b, BOUNDARY);
    const variants: MimeVariant[] = [
      { subject: 'Hi a@x', html: HTML, text: TEXT, headers: unsub },
      { subject: 'Hi ü@x', html: HTML.replace('ü', 'u'), text: 'ascii only', headers: unsub },
      { subject: '', html: HTML, text: '', headers: unsub }, // a tag that rendered empty drops the text part
      { subject: 'Hi b@x', html: HTML, text: TEXT },
      { subject: 'Hi a@x', html: HTML, text: TEXT, headers: unsub },
    ];
    for (const v of variants) await expectSame(b, v, mime);
  });

  it('shares a layout between messages that differ in To, Message-ID and Date, each with its own boundary', async () => {
    const shapes = new MimeShapes();
    const to = [
      [{ name: 'Ünïcode Reader', email: 'u@recipient.test' }],
      [],
      Array.from({ length: 7 }, (_, i) => ({ name: i % 2 ? `Reader "${i}", Esq.` : '', email: `r${i}@recipient.test` })),
      [{ name: '', email: 'plain@recipient.test' }],
    ];
    const boundaries = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const b = base({ to: to[i % to.length], messageIdHeader: `<m${i}-${'x'.repeat(i * 7)}@example.com>`, date: new Date(Date.UTC(2026, i, i + 1, i)) });
      const mime = shapes.forMessage(b);
      boundaries.add(mime.baseBoundary);
      await expectSame(b, { subject: `Hi ${i}`, html: i % 3 ? HTML : undefined, text: TEXT, headers: i % 2 ? unsub : {} }, mime);
    }
    expect(boundaries.size).toBe(12);
    // Attachments are not part of a shape: such a message gets its own layout, and still matches.
    const withFile = base({ attachments: [{ filename: 'a.txt', content: Buffer.from('x'), disposition: 'attachment' }] });
    await expectSame(withFile, { subject: 's', text: TEXT }, shapes.forMessage(withFile));
  });

  it('keeps CRLF in values from starting header fields', async () => {
    const raw = (await expectSame(base(), { subject: 'S\r\nX-Evil: 1', text: 'hi', headers: { 'List-Unsubscribe': '<u>\nX-Evil: 2' } })).toString('utf8');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
    expect(head).not.toMatch(/^(bcc|x-evil|x-injected):/im);
    expect(head.split('\r\n').every((l) => /^[\w-]+: |^[ \t]/.test(l))).toBe(true);
  });

  it('refuses a per-recipient value for a structured header', () => {
    expect(() => new MessageMime(base(), BOUNDARY).compose({ subject: 'x', text: 'y', headers: { From: 'a@b.c' } })).toThrow(/cannot be From/);
  });

  it('matches on random bodies and subjects aimed at the encoders’ seams', async () => {
    // Deterministic: a failure names its case.
    let seed = 15;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const atoms = [
      ' ',
      '  ',
      '\t',
      '=',
      'a',
      'word',
      'é',
      '€',
      '日',
      '😀',
      '\r\n',
      '\n',
      '\r',
      '.',
      '-',
      'x'.repeat(70),
      'y'.repeat(80),
      '=3D',
      '<a href="https://e.x/?a=1&b=2">l</a>',
    ];
    const str = (max: number) => Array.from({ length: rnd(max) }, () => atoms[rnd(atoms.length)]).join('');
    const b = base();
    const mime = new MessageMime(b, BOUNDARY);
    for (let i = 0; i < 150; i++) {
      const v: MimeVariant = { subject: str(20), html: rnd(4) ? str(300) : undefined, text: rnd(4) ? str(300) : undefined, headers: rnd(2) ? unsub : {} };
      try {
        await expectSame(b, v, mime);
      } catch (err) {
        throw new Error(`case ${i}: ${JSON.stringify(v)}\n${(err as Error).message}`, { cause: err });
      }
    }
  });
});

describe('transferEncoding', () => {
  const viaMimeNode = (body: string) => new MimeNode('text/plain', { baseBoundary: '-' }).setContent(body).getTransferEncoding();

  it('picks what MimeNode picks for a text body', () => {
    const cases = [
      'short\nlines',
      'x'.repeat(76),
      'x'.repeat(77),
      `${'x'.repeat(76)}\r\n${'y'.repeat(76)}`,
      `a\n${'x'.repeat(77)}\nb`,
      'ünïcödé but mostly Latin letters here',
      'Привет мир',
      'ab\u0001c',
      'tab\tand\vvertical',
      'x'.repeat(128 * 1024 + 1),
      '12345 67890 !!!',
      '1'.repeat(100),
      `${'1'.repeat(100)}a`,
      `${'é'.repeat(3)}${'1'.repeat(100)}ab`,
      'é1',
    ];
    for (const body of cases) expect([body.slice(0, 20), transferEncoding(body)]).toEqual([body.slice(0, 20), viaMimeNode(body)]);
    // The three outcomes all occur, so a constant could not pass.
    expect(new Set(cases.map(transferEncoding))).toEqual(new Set(['7bit', 'quoted-printable', 'base64']));
  });

  it('matches MimeNode on random bodies', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const atoms = ['a', 'Z', ' ', '1', '.', 'é', '日', '\u0007', '\x7f', '\r\n', '\n', '\r', 'x'.repeat(60), '\u2028', '\t'];
    for (let i = 0; i < 2000; i++) {
      const body = Array.from({ length: 1 + rnd(40) }, () => atoms[rnd(atoms.length)]).join('');
      expect([i, transferEncoding(body)]).toEqual([i, viaMimeNode(body)]);
    }
  });
});

describe('header line lengths at the send API limits', () => {
  const longest = (b: Buffer) =>
    Math.max(
      ...b
        .toString('latin1')
        .split('\r\n')
        .map((l) => l.length),
    );
  it('keeps a 997-character unbroken Subject and header value within 998 octets a line; 998 would make 999', () => {
    const at = (n: number) => longest(new MessageMime(base({ headers: { 'X-Note': 'v'.repeat(n) } }), BOUNDARY).compose({ subject: 'S'.repeat(n), text: 'x' }));
    expect(at(997)).toBe(998);
    expect(at(998)).toBe(999);
  });
});
