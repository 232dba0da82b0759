/**
 * CloudMails conformance (spec/peer-cloudmails-api.txt): the spec's cURL example with the real curl binary and its
 * Python, Node.js, PHP and Go bodies and batch body through fetch, against a gateway listening on 127.0.0.1; every
 * documented reply field, type and status; mail at the SMTP sink; opens, clicks and bounces back through
 * GET /v1/emails/{id}; webhooks in CloudMails' payload, pinged before they activate; every error of the spec's
 * table in its envelope; and the same message seen through Octeth's and CyberPanel's lookups.
 */
import crypto from 'node:crypto';
import { simpleParser } from 'mailparser';
import { Webhook } from 'standardwebhooks';
import { addDomain, createUser, senderSetup, uniqueDomain } from '../helpers/harness';
import { startWebhookRig, WebhookRig } from '../helpers/webhook-rig';
import { smtpError, waitFor } from '../helpers/sink';
import { Receiver, startReceiver } from '../webhooks/receiver';
import { curl, getAs, ISO_SECONDS } from './conformance';

/** The spec's cURL example, verbatim. */
const SPEC_CURL = `curl -X POST "https://api.cloudmails.eu/v1/send" \\
-H "Authorization: Bearer YOUR_API_KEY" \\
-H "Content-Type: application/json" \\
-d '{
"to": "recipient@example.com",
"from": "sender@yourdomain.com",
"subject": "Test Email",
"html": "<html><body><h1>Hello</h1><p>This is a test email.</p></body></html>",
"text": "Hello, this is a test email."
}'`;

/** The spec's batch request body, verbatim (its messages name no from and no custom_args). */
const SPEC_BATCH = `{
"messages": [
{
"to": "user1@example.com",
"subject": "Hello {{name}}",
"html": "<p>Hi {{name}},</p><p>Your order #{{order_id}} is ready.</p>"
},
{
"to": "user2@example.com",
"subject": "Hello {{name}}",
"html": "<p>Hi {{name}},</p><p>Your order #{{order_id}} is ready.</p>"
}
]
}`;

const TRACK = 'http://track.postern.test';
const BROWSER = { 'User-Agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15' };
let rig: WebhookRig;
let srv: WebhookRig['srv'];
let rx: Receiver;
let key: string;

async function accountKey(sessionId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await rig.h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'cloudmails', KeyType: 'account', ...extra });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.APIKey.APIKey;
}

beforeAll(async () => {
  rx = await startReceiver();
  rig = await startWebhookRig({ TRACKING_BASE_URL: TRACK, MACHINE_HIT_SECONDS: '0', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50' });
  ({ srv } = rig);
  rig.sink.onRcpt = (a) => (a.startsWith('bounce') ? smtpError(550, `5.1.1 <${a}>: no such user here`) : undefined);
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: rig.s.userId, Plan: 'Enterprise' });
  key = await accountKey(rig.s.sessionId);
});
afterAll(async () => {
  await rig.close();
  await rx.stop();
});

const rcpt = (label: string) => `${label}.${crypto.randomBytes(4).toString('hex')}@recipient.test`;

async function call(method: string, path: string, opts: { body?: unknown; key?: string | null; raw?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const k = opts.key === undefined ? key : opts.key;
  if (k) headers.Authorization = `Bearer ${k}`;
  const res = await fetch(`${srv.base}${path}`, { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function received(to: string) {
  await waitFor(() => rig.sink.received.some((r) => r.to.includes(to)), 15000, `mail to ${to}`);
  const got = rig.sink.received.find((r) => r.to.includes(to))!;
  return { ...got, mail: await simpleParser(got.raw) };
}

async function statusUntil(id: string, status: string, k = key) {
  let last: any;
  await waitFor(
    async () => {
      last = await call('GET', `/v1/emails/${id}`, { key: k });
      return last.body.status === status;
    },
    15000,
    `status ${status}`,
  );
  return last;
}

describe('POST /v1/send', () => {
  it('runs the spec’s cURL example with the real curl binary: 200 {message_id, status}, the mail reaches the sink, GET /v1/emails/{id} shows every field', async () => {
    const from = `sender@${rig.s.domain}`;
    const to = rcpt('recipient');
    const r = await curl(SPEC_CURL, [
      ['https://api.cloudmails.eu/v1', `${srv.base}/v1`],
      ['YOUR_API_KEY', key],
      ['sender@yourdomain.com', from],
      ['recipient@example.com', to],
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ message_id: expect.any(String), status: 'sent' });
    const got = await received(to);
    expect(got.mail.subject).toBe('Test Email');
    expect(got.mail.from?.value[0].address).toBe(from);
    expect(got.mail.html).toContain('<h1>Hello</h1><p>This is a test email.</p>');
    expect(got.mail.text?.trim()).toBe('Hello, this is a test email.');

    const s = await statusUntil(r.body.message_id, 'delivered');
    expect(s.status).toBe(200);
    expect(s.body).toEqual({
      message_id: r.body.message_id,
      status: 'delivered',
      created_at: expect.stringMatching(ISO_SECONDS),
      delivered_at: expect.stringMatching(ISO_SECONDS),
      bounce_reason: null,
      opens: 0,
      clicks: 0,
    });
    expect(Date.parse(s.body.delivered_at)).toBeGreaterThanOrEqual(Date.parse(s.body.created_at));
  });

  it('sends the Python, Node.js, PHP and Go examples’ bodies as those clients serialise them', async () => {
    const from = `sender@${rig.s.domain}`;
    const bodies: Record<string, (to: string) => string> = {
      // requests' json=payload without text_body
      python: (to) => JSON.stringify({ to, from, subject: 'Hello from CloudMails', html: '<h1>Hello</h1><p>This is a test.</p>' }),
      // JSON.stringify drops the undefined text
      node: (to) => JSON.stringify({ to, from, subject: 'Hello from CloudMails', html: '<h1>Hello</h1><p>This is a test email.</p>', text: undefined }),
      // json_encode writes the missing $text as null
      php: (to) => `{"to":"${to}","from":"${from}","subject":"Hello from CloudMails","html":"<h1>Hello<\\/h1><p>This is a test email.<\\/p>","text":null}`,
      // encoding/json with the struct's tags, Text omitempty
      go: (to) => `{"to":"${to}","from":"${from}","subject":"Hello","html":"<h1>Hi</h1>"}`,
    };
    for (const [lang, body] of Object.entries(bodies)) {
      const to = rcpt(lang);
      const r = await call('POST', '/v1/send', { raw: body(to) });
      expect({ lang, status: r.status, body: r.body }).toEqual({ lang, status: 200, body: { message_id: expect.any(String), status: 'sent' } });
      expect((await received(to)).mail.html).toContain('<h1>');
    }
  });

  it('takes every documented parameter: cc[], bcc[], reply_to, attachments[] and custom_args{}', async () => {
    const [to, cc, bcc] = [rcpt('to'), rcpt('cc'), rcpt('bcc')];
    const pdf = Buffer.from('%PDF-1.4 invoice').toString('base64');
    const r = await call('POST', '/v1/send', {
      body: {
        to,
        from: `billing@${rig.s.domain}`,
        subject: 'Your invoice',
        html: '<p>Attached.</p>',
        text: 'Attached.',
        reply_to: `support@${rig.s.domain}`,
        cc: [cc],
        bcc: [bcc],
        attachments: [{ filename: 'invoice.pdf', content: pdf, type: 'application/pdf' }],
        custom_args: { user_id: '12345', invoice: 7 },
      },
    });
    expect(r.status).toBe(200);
    const got = await received(to);
    await received(bcc);
    expect(got.mail.cc).toMatchObject({ value: [{ address: cc }] });
    expect(got.raw.toString()).not.toContain(bcc);
    expect(got.mail.replyTo?.value[0].address).toBe(`support@${rig.s.domain}`);
    expect(got.mail.attachments.map((a) => [a.filename, a.contentType, a.content.toString()])).toEqual([
      ['invoice.pdf', 'application/pdf', '%PDF-1.4 invoice'],
    ]);
    const row = await rig.h.services.db('messages').where({ id: r.body.message_id }).first('metadata');
    expect(JSON.parse(row.metadata)).toEqual({ user_id: '12345', invoice: 7 });
  });
});

describe('POST /v1/send/batch', () => {
  it('sends the spec’s batch body as written: each message from the account’s default sender, unfilled placeholders empty', async () => {
    const r = await call('POST', '/v1/send/batch', { raw: SPEC_BATCH });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      total: 2,
      accepted: 2,
      rejected: 0,
      results: [
        { index: 0, message_id: expect.any(String), status: 'sent' },
        { index: 1, message_id: expect.any(String), status: 'sent' },
      ],
    });
    for (const to of ['user1@example.com', 'user2@example.com']) {
      const got = await received(to);
      expect(got.mail.from?.value[0].address).toBe(`noreply@${rig.s.domain}`);
      expect(got.mail.subject).toBe('Hello');
      expect(got.mail.html).toContain('<p>Hi ,</p><p>Your order # is ready.</p>');
    }
  });

  it('fills {{name}} placeholders from each message’s custom_args (escaped in HTML), and validates each message on its own', async () => {
    const [ada, bob, bad] = [rcpt('ada'), rcpt('bob'), rcpt('bad')];
    const pending = uniqueDomain('pending');
    await addDomain(rig.h, rig.s.sessionId, pending);
    const tpl = {
      subject: 'Hello {{name}}',
      html: '<p>Hi {{name}},</p><p>Your order #{{order_id}} is ready. {{ missing|"Thanks" }}</p>',
      text: 'Hi {{name}}, order {{order_id}}.',
    };
    const r = await call('POST', '/v1/send/batch', {
      body: {
        from: `orders@${rig.s.domain}`,
        messages: [
          { to: ada, ...tpl, custom_args: { name: 'Ada', order_id: 'A-1' } },
          { ...tpl, custom_args: { name: 'Nobody' } },
          { to: bob, ...tpl, custom_args: { name: 'Bob <b>', order_id: 2 } },
          { to: bad, from: `a@${pending}`, ...tpl },
          { to: 'not-an-address', ...tpl },
          { to: bad, ...tpl, custom_args: ['not', 'an', 'object'] },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ total: 6, accepted: 2, rejected: 4 });
    const [a, missing, b, pend, badTo, badArgs] = r.body.results;
    expect(a).toEqual({ index: 0, message_id: expect.any(String), status: 'sent' });
    expect(b).toEqual({ index: 2, message_id: expect.any(String), status: 'sent' });
    expect(missing).toEqual({ index: 1, status: 'failed', error: { code: 400, error: 'Invalid Request', message: 'Missing required field: to' } });
    expect(pend).toEqual({
      index: 3,
      status: 'failed',
      error: { code: 403, error: 'Forbidden', message: expect.stringMatching(/not activated|not verified|Enabled/i) },
    });
    expect(badTo).toEqual({ index: 4, status: 'failed', error: { code: 400, error: 'Invalid Request', message: expect.stringContaining('not-an-address') } });
    expect(badArgs).toEqual({ index: 5, status: 'failed', error: { code: 400, error: 'Invalid Request', message: 'custom_args must be an object' } });

    const mailA = (await received(ada)).mail;
    expect(mailA.from?.value[0].address).toBe(`orders@${rig.s.domain}`);
    expect(mailA.subject).toBe('Hello Ada');
    expect(mailA.html).toContain('<p>Hi Ada,</p><p>Your order #A-1 is ready. Thanks</p>');
    expect(mailA.text?.trim()).toBe('Hi Ada, order A-1.');
    const mailB = (await received(bob)).mail;
    expect(mailB.subject).toBe('Hello Bob <b>');
    expect(mailB.html).toContain('<p>Hi Bob &lt;b&gt;,</p><p>Your order #2 is ready.');
    expect(rig.sink.received.some((x) => x.to.includes(bad))).toBe(false);
  });

  it('gives a message without from the first Enabled domain the key may use; none answers 400 for that message', async () => {
    const s = await senderSetup(rig.h);
    const second = uniqueDomain('second');
    const secondId = await addDomain(rig.h, s.sessionId, second);
    await rig.h.services.db('sender_domains').where({ id: secondId }).update({ status: 'Enabled' });
    const pending = uniqueDomain('pending');
    await addDomain(rig.h, s.sessionId, pending);
    const batch = (k: string, to: string) => call('POST', '/v1/send/batch', { key: k, body: { messages: [{ to, subject: 'S', text: 'T' }] } });
    const [a, b] = [rcpt('first'), rcpt('narrow')];
    expect((await batch(await accountKey(s.sessionId), a)).body.results[0].status).toBe('sent');
    expect((await received(a)).mail.from?.value[0].address).toBe(`noreply@${s.domain}`);
    expect((await batch(await accountKey(s.sessionId, { Domains: second }), b)).body.results[0].status).toBe('sent');
    expect((await received(b)).mail.from?.value[0].address).toBe(`noreply@${second}`);
    const none = await batch(await accountKey(s.sessionId, { Domains: pending }), rcpt('none'));
    expect(none.body.results[0]).toEqual({
      index: 0,
      status: 'failed',
      error: { code: 400, error: 'Invalid Request', message: expect.stringMatching(/From/) },
    });
    // Octeth's batch door keeps its rule (From required, code 3) unless DefaultFrom is asked for.
    const octeth = (extra: Record<string, unknown>) =>
      fetch(`${srv.base}/api/v1/email/batch`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ Messages: [{ Subject: 'S', ContentType: 'plain', PlainContent: 'T', To: [{ email: rcpt('octeth') }] }], ...extra }),
      }).then((x) => x.json() as Promise<any>);
    expect((await octeth({})).Results[0].Errors[0].Code).toBe(3);
    expect((await octeth({ DefaultFrom: 1 })).Results[0]).toEqual({ MessageID: expect.any(String) });
  });

  it('takes 1,000 messages in one request and refuses 1,001 with 400', async () => {
    const over = await call('POST', '/v1/send/batch', {
      body: { messages: Array.from({ length: 1001 }, () => ({ to: 'x@example.com', subject: 'S', html: 'x' })) },
    });
    expect(over).toMatchObject({ status: 400, body: { code: 400, error: 'Invalid Request', message: 'messages must be an array of 1 to 1000 messages' } });
    expect((await call('POST', '/v1/send/batch', { body: { messages: [] } })).status).toBe(400);
    const s = await senderSetup(rig.h, { Plan: 'Enterprise' });
    const k = await accountKey(s.sessionId);
    const started = Date.now();
    const r = await call('POST', '/v1/send/batch', {
      key: k,
      body: {
        messages: Array.from({ length: 1000 }, (_, i) => ({
          to: `bulk${i}@recipient.test`,
          from: `bulk@${s.domain}`,
          subject: 'Hi {{n}}',
          html: '<p>{{n}}</p>',
          custom_args: { n: i },
        })),
      },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ total: 1000, accepted: 1000, rejected: 0 });
    expect(new Set(r.body.results.map((x: { message_id: string }) => x.message_id)).size).toBe(1000);
    // One pending row until a worker or a read of the account's mail expands it: read one through the door first.
    expect((await call('GET', `/v1/emails/${r.body.results[0].message_id}`, { key: k })).status).toBe(200);
    expect(await rig.h.services.db('messages').where({ user_id: s.userId }).count({ n: '*' }).first()).toEqual({ n: 1000 });
    const last = await rig.h.services.db('messages').where({ id: r.body.results[999].message_id }).first('subject');
    expect(last.subject).toBe('Hi 999');
    console.log(`CloudMails batch of 1,000 accepted in ${Date.now() - started} ms`);
    // Not worth delivering 1,000 mails on a shared machine: cancel what the worker has not taken yet.
    await rig.h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: s.domainId });
  }, 60_000);
});

describe('GET /v1/emails/{message_id}', () => {
  it('counts opens and clicks from the tracking events', async () => {
    const to = rcpt('reader');
    const r = await call('POST', '/v1/send', {
      body: { to, from: `news@${rig.s.domain}`, subject: 'News', html: '<p>Read <a href="https://shop.example/item">this</a>.</p>' },
    });
    const html = (await received(to)).mail.html as string;
    const pixel = html.match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1].slice(TRACK.length);
    const link = html.match(/href="([^"]+\/t\/c\/[^"]+)"/)![1].slice(TRACK.length);
    await statusUntil(r.body.message_id, 'delivered');
    for (const p of [pixel, pixel]) expect((await fetch(`${srv.base}${p}`, { headers: BROWSER })).status).toBe(200);
    expect((await getAs(srv.base, TRACK, link, BROWSER)).status).toBe(302);
    const s = await call('GET', `/v1/emails/${r.body.message_id}`);
    expect(s.body).toMatchObject({ status: 'delivered', opens: 2, clicks: 1 });
  });

  it('shows bounced with the remote server’s reply as bounce_reason', async () => {
    const r = await call('POST', '/v1/send', { body: { to: rcpt('bounce'), from: `news@${rig.s.domain}`, subject: 'S', html: '<p>x</p>' } });
    const s = await statusUntil(r.body.message_id, 'bounced');
    expect(s.body).toEqual({
      message_id: r.body.message_id,
      status: 'bounced',
      created_at: expect.stringMatching(ISO_SECONDS),
      delivered_at: null,
      bounce_reason: expect.stringContaining('550'),
      opens: 0,
      clicks: 0,
    });
  });

  it('answers 404 for an unknown id and for another account’s message', async () => {
    expect(await call('GET', `/v1/emails/${crypto.randomUUID()}`)).toMatchObject({
      status: 404,
      body: { code: 404, error: 'Not Found', message: 'Message not found' },
    });
    const other = await senderSetup(rig.h);
    const theirs = await call('POST', '/v1/send', {
      key: await accountKey(other.sessionId),
      body: { to: rcpt('x'), from: `a@${other.domain}`, subject: 'S', html: 'T' },
    });
    expect(theirs.status).toBe(200);
    expect((await call('GET', `/v1/emails/${theirs.body.message_id}`)).status).toBe(404);
  });
});

describe('one message, every dialect', () => {
  it('a message sent through /v1/send shows the same status and times through Octeth’s getmessage and CyberPanel’s lookup', async () => {
    const to = rcpt('cross');
    const r = await call('POST', '/v1/send', { body: { to, from: `x@${rig.s.domain}`, subject: 'Cross', html: '<p>x</p>' } });
    const cm = (await statusUntil(r.body.message_id, 'delivered')).body;
    const octeth = await fetch(`${srv.base}/api/v1/email/${r.body.message_id}`, { headers: { Authorization: `Bearer ${rig.s.key}` } }).then(
      (x) => x.json() as Promise<any>,
    );
    const legacy = await rig.h.call({ Command: 'emailgateway.getmessage', SenderAPIKey: rig.s.key, MessageID: r.body.message_id });
    const cp = (await call('GET', `/email/v1/messages/${r.body.message_id}`)).body.data;
    expect([octeth.Status, legacy.Status, cp.status, cm.status]).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    const events = octeth.Recipients[0].Events as { Event: string; LoggedAt: number }[];
    expect(events.map((e) => e.Event)).toEqual(['queued', 'delivered']);
    expect([Date.parse(cm.created_at) / 1000, Date.parse(cm.delivered_at) / 1000]).toEqual([Date.parse(cp.queued_at) / 1000, events[1].LoggedAt]);
  });

  it('a message sent through Octeth’s /api/v1/email is visible through GET /v1/emails/{id}', async () => {
    const to = rcpt('octeth');
    const sent = await fetch(`${srv.base}/api/v1/email`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${rig.s.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        Subject: 'X',
        ContentType: 'plain',
        PlainContent: 'x',
        From: { name: '', email: `o@${rig.s.domain}` },
        To: [{ name: '', email: to }],
      }),
    }).then((x) => x.json() as Promise<any>);
    expect((await statusUntil(sent.MessageID, 'delivered')).body.message_id).toBe(sent.MessageID);
  });
});

describe('webhooks', () => {
  const hookPath = (label: string) => `/hook/${label}-${crypto.randomBytes(4).toString('hex')}`;
  const hitsAt = (p: string) => rx.hits.filter((x) => x.path === p);

  it('pings a new webhook first, then posts {event,message_id,timestamp,recipient,custom_args} for delivered and bounced', async () => {
    const p = hookPath('cm');
    const w = await call('POST', '/v1/webhooks', { body: { url: rx.url(p) } });
    expect(w.status).toBe(200);
    expect(w.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      url: rx.url(p),
      events: ['delivered', 'bounced', 'opened', 'clicked', 'unsubscribed', 'complained'],
      active: true,
      disabled_reason: null,
      created_at: expect.stringMatching(ISO_SECONDS),
      secret: expect.stringMatching(/^whsec_/),
      ping: { ok: true, status_code: 200, error: null },
    });
    expect(hitsAt(p).map((x) => JSON.parse(x.body))).toEqual([
      { event: 'ping', message_id: null, timestamp: expect.stringMatching(ISO_SECONDS), recipient: null, custom_args: {} },
    ]);

    const to = rcpt('hooked');
    const sent = await call('POST', '/v1/send', {
      body: { to, from: `x@${rig.s.domain}`, subject: 'Hooked', html: '<p>x</p>', custom_args: { user_id: '12345' } },
    });
    const bounceTo = rcpt('bounce');
    const bounced = await call('POST', '/v1/send', { body: { to: bounceTo, from: `x@${rig.s.domain}`, subject: 'Hooked', html: '<p>x</p>' } });
    const bodies = () =>
      hitsAt(p)
        .slice(1)
        .map((x) => new Webhook(w.body.secret).verify(x.body, x.headers) as any);
    const of = (id: string, event: string) => bodies().find((b) => b.message_id === id && b.event === event);
    await waitFor(() => !!of(sent.body.message_id, 'delivered') && !!of(bounced.body.message_id, 'bounced'), 20000, 'the delivered and bounced calls');
    expect(of(sent.body.message_id, 'delivered')).toEqual({
      event: 'delivered',
      message_id: sent.body.message_id,
      timestamp: expect.stringMatching(ISO_SECONDS),
      recipient: to,
      custom_args: { user_id: '12345' },
    });
    expect(of(bounced.body.message_id, 'bounced')).toEqual({
      event: 'bounced',
      message_id: bounced.body.message_id,
      timestamp: expect.stringMatching(ISO_SECONDS),
      recipient: bounceTo,
      custom_args: {},
      reason: expect.stringContaining('550'),
    });

    const list = await call('GET', '/v1/webhooks');
    expect(list.body.webhooks).toContainEqual({
      id: w.body.id,
      url: rx.url(p),
      events: w.body.events,
      active: true,
      disabled_reason: null,
      created_at: w.body.created_at,
    });
    expect(await call('DELETE', `/v1/webhooks/${w.body.id}`)).toMatchObject({ status: 200, body: { id: w.body.id, deleted: true } });
    expect((await call('GET', '/v1/webhooks')).body.webhooks.map((x: { id: string }) => x.id)).not.toContain(w.body.id);
    expect(await call('DELETE', `/v1/webhooks/${w.body.id}`)).toMatchObject({ status: 404, body: { code: 404, error: 'Not Found' } });
  });

  it('deletes only its own webhooks: a platform, standard or Octeth webhook of the same account answers 404 and stays', async () => {
    const platform = await fetch(`${srv.base}/api/v1/webhooks`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: rx.url(hookPath('platform')), events: ['email.sent'] }),
    });
    expect(platform.status).toBe(200);
    const platformId = String(((await platform.json()) as any).id);
    const standard = await rig.h.call({ Command: 'webhook.create', SenderAPIKey: key, URL: rx.url(hookPath('std')), Events: 'delivered' });
    expect(standard.Success).toBe(true);
    const octeth = await rig.h.call({
      Command: 'emailgateway.addwebhook',
      SessionID: rig.s.sessionId,
      DomainID: rig.s.domainId,
      Event: 'delivery',
      WebhookURL: rx.url(hookPath('octeth')),
    });
    expect(octeth.Success).toBe(true);
    const octethId = String(octeth.NewWebhookID);
    for (const id of [platformId, String(standard.WebhookID), octethId]) {
      expect(await call('DELETE', `/v1/webhooks/${id}`)).toEqual({
        status: 404,
        headers: expect.anything(),
        body: { code: 404, error: 'Not Found', message: 'Webhook not found' },
      });
    }
    const ids = (await rig.h.call({ Command: 'webhook.list', SenderAPIKey: key })).Webhooks.map((w: any) => String(w.WebhookID));
    expect(ids).toEqual(expect.arrayContaining([platformId, String(standard.WebhookID)]));
    expect((await call('GET', '/v1/webhooks')).body.webhooks.map((w: { id: string }) => w.id)).not.toEqual(expect.arrayContaining([platformId]));
    const octethHooks = await rig.h.call({ Command: 'emailgateway.getwebhooks', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
    expect(JSON.stringify(octethHooks)).toContain(octethId);
    await rig.h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: platformId });
    await rig.h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: standard.WebhookID });
    await rig.h.call({ Command: 'emailgateway.deletewebhook', SessionID: rig.s.sessionId, DomainID: rig.s.domainId, WebhookID: octethId });
  });

  it('posts opened, clicked (with url) and unsubscribed in the same shape, from real tracking hits', async () => {
    const p = hookPath('engagement');
    const w = await call('POST', '/v1/webhooks', { body: { url: rx.url(p), events: ['opened', 'clicked', 'unsubscribed'] } });
    expect(w.body).toMatchObject({ active: true, events: ['opened', 'clicked', 'unsubscribed'] });
    const to = rcpt('engaged');
    const sent = await call('POST', '/v1/send', {
      body: {
        to,
        from: `x@${rig.s.domain}`,
        subject: 'Engage',
        html: '<p><a href="https://shop.example/sale">Sale</a> <a href="{{{ Link:Unsubscribe }}}">unsubscribe</a></p>',
        custom_args: { campaign: 'spring' },
      },
    });
    const html = (await received(to)).mail.html as string;
    const pixel = html.match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1].slice(TRACK.length);
    const link = html.match(/href="([^"]+\/t\/c\/[^"]+)"/)![1].slice(TRACK.length);
    const unsub = html.match(/href="([^"]+\/t\/u\/[^"]+)"/)![1].slice(TRACK.length);
    await statusUntil(sent.body.message_id, 'delivered');
    expect((await fetch(`${srv.base}${pixel}`, { headers: BROWSER })).status).toBe(200);
    expect((await getAs(srv.base, TRACK, link, BROWSER)).status).toBe(302);
    expect(
      (
        await fetch(`${srv.base}${unsub}`, {
          method: 'POST',
          headers: { ...BROWSER, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'List-Unsubscribe=One-Click',
        })
      ).status,
    ).toBe(200);
    const bodies = () =>
      hitsAt(p)
        .slice(1)
        .map((x) => new Webhook(w.body.secret).verify(x.body, x.headers) as any);
    await waitFor(() => bodies().length >= 3, 20000, 'the opened, clicked and unsubscribed calls');
    const shape = (event: string, extra: Record<string, unknown> = {}) => ({
      event,
      message_id: sent.body.message_id,
      timestamp: expect.stringMatching(ISO_SECONDS),
      recipient: to,
      custom_args: { campaign: 'spring' },
      ...extra,
    });
    expect(bodies().sort((a, b) => a.event.localeCompare(b.event))).toEqual([
      shape('clicked', { url: 'https://shop.example/sale' }),
      shape('opened'),
      shape('unsubscribed'),
    ]);
    await call('DELETE', `/v1/webhooks/${w.body.id}`);
  });

  it('leaves a webhook inactive when its test ping does not get a 2xx, and refuses a private or non-http URL', async () => {
    const p = hookPath('down');
    rx.respond = (hit) => (hit.path === p ? 503 : 200);
    try {
      const w = await call('POST', '/v1/webhooks', { body: { url: rx.url(p), events: ['delivered'] } });
      expect(w.status).toBe(200);
      expect(w.body).toMatchObject({ active: false, disabled_reason: 'test ping failed: HTTP 503', ping: { ok: false, status_code: 503 } });
    } finally {
      rx.respond = () => 200;
    }
    expect(await call('POST', '/v1/webhooks', { body: { url: 'ftp://example.com/hook' } })).toMatchObject({
      status: 400,
      body: { code: 400, error: 'Invalid Request' },
    });
    expect(await call('POST', '/v1/webhooks', { body: { url: rx.url(p), events: ['exploded'] } })).toMatchObject({
      status: 400,
      body: { code: 400, error: 'Invalid Request', message: expect.stringContaining('delivered') },
    });
  });
});

describe('errors in the spec’s table', () => {
  const base = () => ({ to: rcpt('x'), from: `sender@${rig.s.domain}`, subject: 'Hello', html: '<p>Hi</p>' });
  const send = (body: unknown, k: string | null = key) => call('POST', '/v1/send', { body, key: k });
  const expectError = (r: { status: number; body: any }, code: number, error: string) => {
    expect(r.status).toBe(code);
    expect(r.body).toEqual({ code, error, message: expect.any(String) });
  };

  it('400 Invalid Request: missing fields, malformed JSON, a bad address, bad custom_args', async () => {
    const { to: _to, ...noTo } = base();
    const r = await send(noTo);
    expectError(r, 400, 'Invalid Request');
    expect(r.body.message).toBe('Missing required field: to');
    expectError(await send({ ...base(), html: undefined }), 400, 'Invalid Request');
    expectError(await call('POST', '/v1/send', { raw: '{"to":' }), 400, 'Invalid Request');
    expect((await send({ ...base(), to: 'nobody' })).body.message).toContain('nobody');
    expectError(await send({ ...base(), custom_args: { nested: { no: 1 } } }), 400, 'Invalid Request');
  });

  it('401 Unauthorized without a key, with a made-up key, with a revoked key', async () => {
    expectError(await send(base(), null), 401, 'Unauthorized');
    expectError(await send(base(), 'sk_live_made_up'), 401, 'Unauthorized');
    const u = await createUser(rig.h);
    const made = await rig.h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'gone', KeyType: 'account' });
    await rig.h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: made.APIKeyID });
    expectError(await call('GET', `/v1/emails/${crypto.randomUUID()}`, { key: made.APIKey.APIKey }), 401, 'Unauthorized');
  });

  it('403 Forbidden: a sender address that is not verified, another account’s domain, a key without can_send', async () => {
    const pending = uniqueDomain('pending');
    await addDomain(rig.h, rig.s.sessionId, pending);
    const unverified = await send({ ...base(), from: `a@${pending}` });
    expectError(unverified, 403, 'Forbidden');
    const other = await senderSetup(rig.h);
    expectError(await send({ ...base(), from: `a@${other.domain}` }), 403, 'Forbidden');
    expectError(await send(base(), await accountKey(rig.s.sessionId, { CanSend: 0 })), 403, 'Forbidden');
  });

  it('429 Rate Limited with Retry-After past the plan’s requests per minute', async () => {
    const s = await senderSetup(rig.h);
    const k = await accountKey(s.sessionId);
    await rig.h.services.limits.limit('plan:perMinute', 100, 60).consume(`u${s.userId}`, 100);
    const r = await call('GET', `/v1/emails/${crypto.randomUUID()}`, { key: k });
    expectError(r, 429, 'Rate Limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('500 Server Error when the message cannot be written (request id, no details), and the next send works', async () => {
    const db = rig.h.services.db;
    await db.schema.renameTable('events', 'events_away');
    try {
      const r = await send({ ...base(), html: '<a href="https://shop.example/">x</a>' });
      expectError(r, 500, 'Server Error');
      expect(r.body.message).toMatch(/^Internal error\. Quote request id \S+ when reporting it\.$/);
    } finally {
      await db.schema.renameTable('events_away', 'events');
    }
    expect((await send({ ...base(), html: '<a href="https://shop.example/">x</a>' })).status).toBe(200);
  });

  it('404 Not Found in the same envelope for an unknown path under /v1', async () => {
    expectError(await call('GET', '/v1/nothing'), 404, 'Not Found');
  });
});
