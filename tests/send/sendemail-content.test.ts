/**
 * What a sent message looks like when it reaches a real SMTP sink: attachments, inline images, plain-only
 * bodies, address headers, custom headers, UTF-8, header injection, and SendAt scheduling.
 */
import crypto from 'node:crypto';
import { AddressObject, simpleParser } from 'mailparser';
import type { Harness } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { Received, Sink, waitFor } from '../helpers/sink';

let rig: RelayRig;
let h: Harness;
let sink: Sink;
let s: RelayRig['s'];

beforeAll(async () => {
  rig = await startRelayRig();
  ({ h, sink, s } = rig);
});
afterAll(async () => {
  await rig.close();
});

function send(body: Record<string, unknown>, key = s.key) {
  return h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${key}` }, body });
}

/** Each test marks its message with a unique subject so it can pick its own mail out of the sink. */
function basic(subject: string, extra: Record<string, unknown> = {}) {
  return {
    Subject: subject,
    ContentType: 'html',
    HTMLContent: '<p>Hello there.</p>',
    PlainContent: 'Hello there.',
    From: { name: 'Sender', email: `hello@${s.domain}` },
    To: [{ name: 'Rita', email: 'rita@recipient.test' }],
    ...extra,
  };
}

function tag(label: string): string {
  return `${label} ${crypto.randomBytes(4).toString('hex')}`;
}

async function deliveredMail(messageId: string, count = 1): Promise<Received[]> {
  await waitFor(
    async () => {
      const rows = await h.services.db('deliveries').where({ message_id: messageId });
      return rows.length === count && rows.every((d: { status: string }) => d.status === 'delivered');
    },
    15000,
    `delivery of ${messageId}`,
  );
  const header = (await h.services.db('messages').where({ id: messageId }).first('message_id_header')).message_id_header as string;
  const got = sink.received.filter((r) => r.raw.toString().includes(header));
  expect(got).toHaveLength(count);
  return got;
}

function firstAddress(a: AddressObject | AddressObject[] | undefined) {
  return (Array.isArray(a) ? a[0] : a)?.value;
}

/** The header block of a raw message, unfolded. */
function headerBlock(raw: Buffer): string {
  const text = raw.toString('latin1');
  return text.slice(0, text.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
}

describe('attachments', () => {
  it('delivers an attachment byte-identical to what was sent, with its filename and type', async () => {
    const bytes = crypto.randomBytes(5000);
    const res = await send(
      basic(tag('attachment'), { Attachments: [{ filename: 'report.bin', content: bytes.toString('base64'), type: 'application/octet-stream' }] }),
    );
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw);
    expect(mail.attachments).toHaveLength(1);
    const a = mail.attachments[0];
    expect(a.filename).toBe('report.bin');
    expect(a.contentType).toBe('application/octet-stream');
    expect(a.contentDisposition).toBe('attachment');
    expect(Buffer.compare(a.content, bytes)).toBe(0);
  });

  it('accepts base64 broken over lines (whitespace is ignored) and still delivers identical bytes', async () => {
    const bytes = crypto.randomBytes(300);
    const wrapped = bytes.toString('base64').replace(/(.{76})/g, '$1\r\n');
    const res = await send(basic(tag('wrapped'), { Attachments: [{ filename: 'wrapped.bin', content: wrapped }] }));
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw);
    expect(mail.attachments.map((a) => a.filename)).toEqual(['wrapped.bin']);
    expect(Buffer.compare(mail.attachments[0].content, bytes)).toBe(0);
  });

  it('delivers an inline image with Content-ID and inline disposition, referenced as cid: from the HTML', async () => {
    // 1×1 transparent PNG.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
    const res = await send(
      basic(tag('inline'), {
        HTMLContent: '<p>Logo:</p><img src="cid:logo@postern.test" alt="logo">',
        Attachments: [{ filename: 'logo.png', content: png.toString('base64'), type: 'image/png', disposition: 'inline', contentid: 'logo@postern.test' }],
      }),
    );
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw, { keepCidLinks: true });
    expect(mail.html).toContain('src="cid:logo@postern.test"');
    expect(mail.attachments).toHaveLength(1);
    const a = mail.attachments[0];
    expect(a.contentId).toBe('<logo@postern.test>');
    expect(a.cid).toBe('logo@postern.test');
    expect(a.contentDisposition).toBe('inline');
    expect(a.contentType).toBe('image/png');
    expect(Buffer.compare(a.content, png)).toBe(0);
    expect(got.raw.toString()).toMatch(/^Content-ID: <logo@postern\.test>\r?$/m);
    expect(got.raw.toString()).toMatch(/^Content-Disposition: inline/m);
  });
});

describe('bodies', () => {
  it('sends ContentType plain as text only, with no HTML part even when HTMLContent is given', async () => {
    const res = await send(basic(tag('plain'), { ContentType: 'plain', PlainContent: 'Just text, no markup.', HTMLContent: '<p>ignored</p>' }));
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw);
    expect(mail.html).toBe(false);
    expect(mail.text?.trim()).toBe('Just text, no markup.');
    expect(got.raw.toString()).not.toContain('text/html');
    expect(got.raw.toString()).not.toContain('ignored');
  });

  it('sends ContentType html with both an HTML and a text part', async () => {
    const res = await send(basic(tag('html'), { HTMLContent: '<p><b>Bold</b> news</p>', PlainContent: 'Bold news' }));
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw);
    expect(mail.html).toContain('<b>Bold</b> news');
    expect(mail.text?.trim()).toBe('Bold news');
  });
});

describe('address and custom headers', () => {
  it('shows To with name and email, CC, and sets Reply-To from ReplyTo', async () => {
    const res = await send(
      basic(tag('addresses'), {
        To: [
          { name: 'Jane Smith', email: 'jane@recipient.test' },
          { name: '', email: 'bare@recipient.test' },
        ],
        ReplyTo: [{ name: 'Help Desk', email: `help@${s.domain}` }],
      }),
    );
    expect(res.status).toBe(200);
    const got = await deliveredMail(res.body.MessageID, 2);
    expect(got.map((g) => g.to[0]).sort()).toEqual(['bare@recipient.test', 'jane@recipient.test']);
    const mail = await simpleParser(got[0].raw);
    expect(firstAddress(mail.to)).toEqual([
      { name: 'Jane Smith', address: 'jane@recipient.test' },
      { name: '', address: 'bare@recipient.test' },
    ]);
    expect(mail.replyTo?.value).toEqual([{ name: 'Help Desk', address: `help@${s.domain}` }]);
    expect(headerBlock(got[0].raw)).toMatch(/^To: Jane Smith <jane@recipient\.test>, bare@recipient\.test$/m);
    expect(headerBlock(got[0].raw)).toMatch(new RegExp(`^Reply-To: Help Desk <help@${s.domain.replace(/\./g, '\\.')}>$`, 'm'));
  });

  it('takes a Reply-To given in Headers as the ReplyTo parameter (when ReplyTo is not given)', async () => {
    const res = await send(basic(tag('reply-to-header'), { Headers: { 'Reply-To': `Help Desk <help@${s.domain}>`, 'X-Ticket': '7' } }));
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const mail = await simpleParser(got.raw);
    expect(mail.replyTo?.value).toEqual([{ name: 'Help Desk', address: `help@${s.domain}` }]);
    expect(headerBlock(got.raw).match(/^Reply-To: .*$/gm)).toHaveLength(1);
    expect(headerBlock(got.raw)).toMatch(/^X-Ticket: 7$/m);
  });

  it('takes Headers [] and Metadata [] as none (PHP encodes an empty map as [])', async () => {
    const res = await send(basic(tag('php-empty'), { Headers: [], Metadata: [] }));
    expect(res.status).toBe(200);
    expect(res.body.MessageID).toEqual(expect.any(String));
  });

  it('writes a custom header with its conventional capitalisation and value', async () => {
    const res = await send(basic(tag('custom-header'), { Headers: { 'X-Campaign-Name': 'spring-2026', 'x-priority-class': 'low' } }));
    expect(res.status).toBe(200);
    const [got] = await deliveredMail(res.body.MessageID);
    const headers = headerBlock(got.raw);
    expect(headers).toMatch(/^X-Campaign-Name: spring-2026$/m);
    expect(headers).toMatch(/^X-Priority-Class: low$/m);
    const mail = await simpleParser(got.raw);
    expect(mail.headers.get('x-campaign-name')).toBe('spring-2026');
  });
});

describe('UTF-8', () => {
  it('keeps a non-ASCII subject, display names and body intact', async () => {
    const subject = `Grüße aus Köln — 你好 ✓ ${crypto.randomBytes(3).toString('hex')}`;
    const res = await send(
      basic(subject, {
        ContentType: 'plain',
        PlainContent: 'Ünïcødé body: ça marche, 日本語.',
        From: { name: 'Jörg Müller', email: `joerg@${s.domain}` },
        To: [{ name: 'Zoë Ångström', email: 'zoe@recipient.test' }],
        CC: [{ name: 'Łukasz Żółć', email: 'lukasz@recipient.test' }],
      }),
    );
    expect(res.status).toBe(200);
    const got = await deliveredMail(res.body.MessageID, 2);
    const mail = await simpleParser(got[0].raw);
    expect(mail.subject).toBe(subject);
    expect(mail.from?.value).toEqual([{ name: 'Jörg Müller', address: `joerg@${s.domain}` }]);
    expect(firstAddress(mail.to)).toEqual([{ name: 'Zoë Ångström', address: 'zoe@recipient.test' }]);
    expect(firstAddress(mail.cc)).toEqual([{ name: 'Łukasz Żółć', address: 'lukasz@recipient.test' }]);
    expect(mail.text?.trim()).toBe('Ünïcødé body: ça marche, 日本語.');
    // Headers travel 7-bit: encoded words, never raw 8-bit bytes.
    expect(/[\x80-\xff]/.test(headerBlock(got[0].raw))).toBe(false);
    const stored = await h.services.db('messages').where({ id: res.body.MessageID }).first('subject');
    expect(stored.subject).toBe(subject);
  });
});

describe('header injection', () => {
  it('rejects a CRLF in From.name with 23 instead of writing an extra header', async () => {
    const subject = tag('inject-from');
    const before = sink.received.length;
    const res = await send(basic(subject, { From: { name: 'Evil\r\nBcc: victim@recipient.test', email: `hello@${s.domain}` } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Errors: [{ Code: 23, Message: `Invalid from email address format: "hello@${s.domain}"` }] });
    expect(await h.services.db('messages').where({ subject }).first('id')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.received.length).toBe(before);
  });

  it('rejects a CRLF in a To name with 19', async () => {
    const res = await send(basic(tag('inject-to'), { To: [{ name: 'Rita\r\nX-Evil: 1', email: 'rita@recipient.test' }] }));
    expect(res.status).toBe(200);
    expect(res.body.Errors.map((e: { Code: number }) => e.Code)).toEqual([19]);
  });
});

describe('SendAt', () => {
  it("keeps a message 'scheduled' until SendAt (now + 3 s), then delivers it", async () => {
    const subject = tag('scheduled');
    const rcptTimes: number[] = [];
    sink.onRcpt = () => {
      rcptTimes.push(Date.now());
      return undefined;
    };
    const sendAt = Math.floor(Date.now() / 1000) + 3;
    const res = await send(basic(subject, { SendAt: sendAt }));
    expect(res.status).toBe(200);
    const id = res.body.MessageID;
    const inSink = () => sink.received.some((r) => r.raw.toString().includes(subject));

    const [d] = await h.services.db('deliveries').where({ message_id: id });
    expect(d.status).toBe('scheduled');
    expect(Number(d.next_attempt_at)).toBe(sendAt * 1000);
    const lookup = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(lookup.body).toMatchObject({ MessageID: id, Status: 'scheduled', SendAt: new Date(sendAt * 1000).toISOString() });
    const events = await h.services.db('events').where({ message_id: id }).pluck('type');
    expect(events).toEqual(['scheduled']);

    // Well before the time (the worker may lease at most 1 s early), nothing has left.
    while (Date.now() < sendAt * 1000 - 1200) {
      const row = await h.services.db('deliveries').where({ id: d.id }).first('status');
      expect(row.status).toBe('scheduled');
      expect(inSink()).toBe(false);
      await new Promise((r) => setTimeout(r, 200));
    }

    await waitFor(async () => (await h.services.db('deliveries').where({ id: d.id }).first('status')).status === 'delivered', 15000, 'scheduled delivery');
    sink.onRcpt = undefined;
    expect(rcptTimes).toHaveLength(1);
    expect(rcptTimes[0]).toBeGreaterThanOrEqual(sendAt * 1000 - 1000);
    expect(inSink()).toBe(true);
    const got = sink.received.find((r) => r.raw.toString().includes(subject))!;
    expect(got.to).toEqual(['rita@recipient.test']);
    const mail = await simpleParser(got.raw);
    expect(mail.date?.getTime()).toBe(sendAt * 1000);
  });
});

describe('SendAt far ahead', () => {
  it('keeps the delivery job of a SendAt 29 days ahead waiting in the queue instead of running it at once', async () => {
    const sendAt = Math.floor(Date.now() / 1000) + 29 * 86400;
    const res = await send(basic(tag('far-ahead'), { SendAt: sendAt }));
    expect(res.status).toBe(200);
    const [d] = await h.services.db('deliveries').where({ message_id: res.body.MessageID });
    expect(d.status).toBe('scheduled');
    await new Promise((r) => setTimeout(r, 300));
    // Still delayed: removable. A job that already fired (and was skipped as not yet due) is gone.
    const removed = await h.services.queues.queue('deliveries').remove(`d${d.id}-a0`);
    expect(removed).toBe(true);
    expect((await h.services.db('deliveries').where({ id: d.id }).first('status')).status).toBe('scheduled');
  });
});
