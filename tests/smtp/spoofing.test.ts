import nodemailer from 'nodemailer';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { openData } from '../helpers/smtp-raw';

let h: Harness;
let front: SmtpFront;
let s: Awaited<ReturnType<typeof senderSetup>>;
let auth: { user: string; pass: string };
let D: string;

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  front = await startSmtpFront(h.services);
  s = await senderSetup(h);
  D = s.domain;
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  auth = { user: c.SMTP.SMTPUsername, pass: c.SMTP.SMTPPassword };
});
afterAll(async () => {
  await front.close();
  await h.services.queues.close();
  await h.close();
});

const messagesStored = async () => Number((await h.services.db('messages').where({ domain_id: s.domainId }).count({ n: '*' }))[0].n);

/** Sends `data` (already terminated) after DATA on a raw socket; returns the reply to it. */
async function rawData(data: string, rcpt = ['r@dest.test']): Promise<string> {
  const c = await openData(front.ports[0], auth, `app@${D}`, rcpt);
  c.send(data);
  const r = await c.reply();
  c.close();
  return r;
}

const message = (headers: string) => `${headers}\r\nTo: r@dest.test\r\nSubject: test\r\n\r\nhello\r\n`;
const nodemailerRaw = (raw: string) =>
  nodemailer
    .createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, auth, tls: { rejectUnauthorized: false } } as any)
    .sendMail({ envelope: { from: `app@${D}`, to: ['r@dest.test'] }, raw });

describe('SMTP front: From and Sender must name only the sender domain', () => {
  const spoofs: [string, (d: string) => string, RegExp][] = [
    ['two From headers, its own first', (d) => `From: app@${d}\r\nFrom: ceo@bank.test`, /^553 5\.7\.1 message has 2 From headers/],
    ['a From address list with a foreign address', (d) => `From: app@${d}, ceo@bank.test`, /^553 5\.7\.1 From header holds "ceo@bank\.test"/],
    ['group syntax holding a foreign address', (d) => `From: staff: app@${d}, ceo@bank.test;`, /^553 5\.7\.1 From header holds "ceo@bank\.test"/],
    ['a foreign Sender header', (d) => `From: app@${d}\r\nSender: ceo@bank.test`, /^553 5\.7\.1 Sender header holds "ceo@bank\.test"/],
    ['a foreign address as the display name', (d) => `From: "ceo@bank.test" <app@${d}>`, /^553 5\.7\.1 From header mentions an address on "bank\.test"/],
    ['a foreign address in a comment', (d) => `From: app@${d} (ceo@bank.test)`, /^553 5\.7\.1 From header mentions an address on "bank\.test"/],
    [
      'a foreign address in an encoded word',
      (d) => `From: =?utf-8?B?${Buffer.from('ceo@bank.test').toString('base64')}?= <app@${d}>`,
      /^553 5\.7\.1 From header mentions an address on "bank\.test"/,
    ],
    [
      'a foreign address in a UTF-7 encoded word',
      (d) => `From: =?UTF-7?Q?ceo+AEA-bank.test?= <app@${d}>`,
      /^553 5\.7\.1 From header holds a UTF-7 encoded word/,
    ],
    [
      'a UTF-7 word with a language tag in Sender',
      (d) => `From: app@${d}\r\nSender: =?utf-7*en?B?${Buffer.from('ceo+AEA-bank.test').toString('base64')}?= <app@${d}>`,
      /^553 5\.7\.1 Sender header holds a UTF-7 encoded word/,
    ],
    [
      'a dotted name after an "@" in a display name',
      (d) => `From: "Follow @bank.test" <app@${d}>`,
      /^553 5\.7\.1 From header mentions an address on "bank\.test"/,
    ],
    ['a foreign address without a dot', (d) => `From: "ceo@bank" <app@${d}>`, /^553 5\.7\.1 From header mentions an address on "bank"/],
    [
      'a handle-like name with a look-alike dot (U+FF61)',
      (d) => `From: =?utf-8?B?${Buffer.from('Support @paypal\uff61com').toString('base64')}?= <app@${d}>`,
      /^553 5\.7\.1 From header mentions an address on "paypal.{1,3}com"/, // U+FF61, read as Latin-1 by the raw client
    ],
    [
      'a foreign address written with a fullwidth at sign (U+FF20)',
      (d) => `From: =?utf-8?B?${Buffer.from('ceo\uff20bank.test').toString('base64')}?= <app@${d}>`,
      /^553 5\.7\.1 From header mentions an address on "bank\.test"/,
    ],
    [
      'a foreign address written with a small at sign (U+FE6B)',
      (d) => `From: =?utf-8?B?${Buffer.from('ceo\ufe6bbank.test').toString('base64')}?= <app@${d}>`,
      /^553 5\.7\.1 From header mentions an address on "bank\.test"/,
    ],
    ['a source route through a foreign host', (d) => `From: <@bank.test:app@${d}>`, /^553 5\.7\.1 From header mentions an address on "bank\.test"/],
    ['a foreign Resent-From', (d) => `From: app@${d}\r\nResent-From: ceo@bank.test`, /^553 5\.7\.1 Resent-From header holds/],
    ['no From header', () => 'X-Note: none', /^553 5\.7\.1 message has no From header/],
    ['an empty group as From', () => 'From: undisclosed:;', /^553 5\.7\.1 From header names no address/],
    [
      'an mbox "From " line before the headers',
      (d) => `From ceo@bank.test Mon Jan  1 00:00:00 2026\r\nFrom: app@${d}`,
      /^554 5\.6\.0 Message refused: header line 1 is not a valid/,
    ],
    ['two Subject headers', (d) => `From: app@${d}\r\nSubject: first`, /^554 5\.6\.0 Message refused: message has 2 Subject headers/],
  ];

  it.each(spoofs)('refuses %s (raw socket)', async (_name, headers, expected) => {
    const before = await messagesStored();
    expect(await rawData(`${message(headers(D))}.\r\n`)).toMatch(expected);
    expect(await messagesStored()).toBe(before);
  });

  it.each(spoofs)('refuses %s (nodemailer)', async (_name, headers, expected) => {
    await expect(nodemailerRaw(message(headers(D)))).rejects.toMatchObject({
      responseCode: Number(expected.source.slice(1, 4)),
      response: expect.stringMatching(expected),
    });
  });

  it('refuses a foreign Sender and a From list set through the nodemailer API', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, auth, tls: { rejectUnauthorized: false } } as any);
    await expect(t.sendMail({ from: `app@${D}`, sender: 'ceo@bank.test', to: 'r@dest.test', text: 'x' })).rejects.toMatchObject({ responseCode: 553 });
    await expect(t.sendMail({ from: [`app@${D}`, 'ceo@bank.test'], to: 'r@dest.test', text: 'x' } as any)).rejects.toMatchObject({ responseCode: 553 });
  });

  it.each([
    ['a display name', (d: string) => `From: "App Team" <app@${d}>`],
    ['several own authors with an own Sender', (d: string) => `From: a@${d}, b@${d}\r\nSender: app@${d}`],
    ['a group of own addresses', (d: string) => `From: Team: a@${d}, b@${d};`],
    ['an "@" in a display name that is no address', (d: string) => `From: "Tom @ Work" <app@${d}>`],
    ['a social handle in a display name', (d: string) => `From: "Follow @acme" <app@${d}>`],
    ['a handle in a comment', (d: string) => `From: app@${d} (@acme)`],
  ])('accepts %s', async (_name, headers) => {
    expect(await rawData(`${message(headers(D))}.\r\n`)).toMatch(/^250 2\.0\.0 Ok: queued as/);
  });
});

describe('SMTP front: no smuggling, only CRLF.CRLF ends DATA', () => {
  /** A second message hidden behind a line end other than CRLF, which a lenient next hop would run as commands. */
  const smuggled = (nl: string) =>
    `From: app@${D}\r\nTo: r@dest.test\r\nSubject: carrier\r\n\r\nhello${nl}.${nl}MAIL FROM:<app@${D}>${nl}RCPT TO:<victim@dest.test>${nl}DATA${nl}From: ceo@${D}${nl}Subject: smuggled${nl}${nl}wire the money${nl}.${nl}\r\n.\r\n`;

  it.each([
    ['a bare-LF dot sequence <LF>.<LF>', '\n', /^554 5\.5\.2 Message refused: bare LF/],
    ['a CR-dot sequence <CR>.<CR>', '\r', /^554 5\.5\.2 Message refused: bare CR/],
    ['a <CR><LF>.<LF> sequence', '\r\n.\n', /^554 5\.5\.2 Message refused: bare LF/],
  ])('refuses %s with one reply and runs none of the hidden commands', async (_name, nl, expected) => {
    const before = await messagesStored();
    const c = await openData(front.ports[0], auth, `app@${D}`, ['r@dest.test']);
    c.send(nl === '\r\n.\n' ? `From: app@${D}\r\nSubject: carrier\r\n\r\nhello\r\n.\nMAIL FROM:<x@${D}>\r\n\r\n.\r\n` : smuggled(nl));
    expect(await c.reply()).toMatch(expected);
    c.send('NOOP\r\n');
    expect(await c.reply()).toMatch(/^250/);
    expect(c.pending()).toBe('');
    c.close();
    expect(await messagesStored()).toBe(before);
  });

  it('refuses any other bare LF, even where no dot follows', async () => {
    expect(await rawData(`From: app@${D}\r\nSubject: lf\r\n\r\nline one\nline two\r\n.\r\n`)).toMatch(/^554 5\.5\.2 Message refused: bare LF/);
  });

  it('keeps a dot-stuffed line and a lone-dot body line as content', async () => {
    const c = await openData(front.ports[0], auth, `app@${D}`, ['r@dest.test']);
    c.send(`From: app@${D}\r\nSubject: dots\r\n\r\n..\r\n..leading dot\r\n.\r\n`);
    const r = await c.reply();
    c.close();
    expect(r).toMatch(/^250 2\.0\.0 Ok: queued as/);
    const row = await h.services
      .db('messages')
      .where({ id: /queued as (\S+)/.exec(r)![1] })
      .first();
    expect(Buffer.from(row.mime).toString('latin1')).toMatch(/\r\n\r\n\.\r\n\.leading dot\r\n$/);
  });
});

describe('SMTP front: at most 1,000 header fields', () => {
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `List-Id: tag ${i} <t${i}.example>`).join('\r\n');

  it('accepts 1,000 fields and refuses 1,001, naming the count', async () => {
    expect(await rawData(`${message(`From: app@${D}\r\n${tags(997)}`)}.\r\n`)).toMatch(/^250 /);
    const before = await messagesStored();
    expect(await rawData(`${message(`From: app@${D}\r\n${tags(998)}`)}.\r\n`)).toMatch(
      /^554 5\.6\.0 Message refused: message has 1001 header fields; at most 1000 are allowed/,
    );
    expect(await messagesStored()).toBe(before);
  });
});

describe('SMTP front: a NUL octet is refused', () => {
  it('refuses a NUL in the body, naming where, and stores nothing', async () => {
    const before = await messagesStored();
    expect(await rawData(`From: app@${D}\r\nSubject: nul\r\n\r\nbo\0dy\r\n.\r\n`)).toMatch(
      /^554 5\.6\.0 Message refused: a NUL octet at octet \d+; mail may not hold one/,
    );
    expect(await messagesStored()).toBe(before);
  });
});

describe('SMTP front: lines over 998 octets are refused', () => {
  it('refuses a 999-octet line and names it', async () => {
    expect(await rawData(`From: app@${D}\r\nSubject: long\r\n\r\nshort\r\n${'y'.repeat(999)}\r\n.\r\n`)).toMatch(
      /^554 5\.6\.0 Message refused: line 5 is 999 octets long; at most 998/,
    );
  });

  it('accepts a 998-octet line', async () => {
    expect(await rawData(`From: app@${D}\r\nSubject: long\r\n\r\n${'y'.repeat(998)}\r\n.\r\n`)).toMatch(/^250 /);
  });

  it('refuses an over-long header line sent through nodemailer', async () => {
    await expect(nodemailerRaw(`From: app@${D}\r\nX-Long: ${'h'.repeat(1000)}\r\nSubject: long\r\n\r\nx\r\n`)).rejects.toMatchObject({ responseCode: 554 });
  });
});

describe('SMTP submissions record each recipient as To, Cc or Bcc', () => {
  it('shows the kinds in GET /api/v1/email/{id}', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, auth, tls: { rejectUnauthorized: false } } as any);
    const info = await t.sendMail({
      from: `app@${D}`,
      to: 'To@Dest.test',
      cc: ['cc1@dest.test', 'Team: cc2@dest.test;'],
      bcc: 'hidden@dest.test',
      subject: 'kinds',
      text: 'x',
    });
    const id = /queued as (\S+)/.exec(info.response)![1];
    const res = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    const kinds = Object.fromEntries(res.body.Recipients.map((r: { Email: string; Type: string }) => [r.Email.toLowerCase(), r.Type]));
    expect(kinds).toEqual({ 'to@dest.test': 'to', 'cc1@dest.test': 'cc', 'cc2@dest.test': 'cc', 'hidden@dest.test': 'bcc' });
  });

  it('records an envelope recipient no header names as Bcc (raw socket)', async () => {
    const r = await rawData(`From: app@${D}\r\nTo: shown@dest.test\r\nSubject: kinds\r\n\r\nx\r\n.\r\n`, ['shown@dest.test', 'unlisted@dest.test']);
    const res = await h.request('GET', `/api/v1/email/${/queued as (\S+)/.exec(r)![1]}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(res.body.Recipients.map((x: { Email: string; Type: string }) => [x.Email, x.Type]).sort()).toEqual([
      ['shown@dest.test', 'to'],
      ['unlisted@dest.test', 'bcc'],
    ]);
  });
});
