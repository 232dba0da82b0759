/**
 * CyberPanel conformance: the spec's own examples (spec/peer-cyberpanel-email-rest-api.txt) against a gateway
 * listening on 127.0.0.1 — its curl line with the real curl binary, its request bodies through fetch — with
 * every documented reply field, type and status; messages reach the SMTP sink and their status and
 * engagement come back through GET /email/v1/messages/{id}; every documented error code.
 */
import { simpleParser } from 'mailparser';
import { addDomain, createUser, senderSetup, uniqueDomain } from '../helpers/harness';
import { insertOpens } from '../helpers/open-events';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { curl, getAs, ISO_SECONDS, listen } from './conformance';

/** The spec's cURL example, verbatim (its addresses are the page's "[email protected]" placeholders). */
const SPEC_CURL = `curl -X POST https://platform.cyberpersons.com/email/v1/send \\
  -H "Authorization: Bearer sk_live_YOUR_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"from":"[email protected]","to":"[email protected]","subject":"Hello","html":"<p>Hi there!</p>"}'`;

const TRACK = 'http://track.postern.test';
let rig: RelayRig;
let srv: Awaited<ReturnType<typeof listen>>;
let key: string;

async function accountKey(sessionId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await rig.h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'cyberpanel', KeyType: 'account', ...extra });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.APIKey.APIKey;
}

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: TRACK, MACHINE_HIT_SECONDS: '0' });
  rig.sink.onRcpt = (a) => (a.startsWith('bounce') ? Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }) : undefined);
  srv = await listen(rig.h.app);
  key = await accountKey(rig.s.sessionId);
});
afterAll(async () => {
  await srv.close();
  await rig.close();
});

const rcpt = (label: string) => `${label}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@recipient.test`;

async function call(method: string, path: string, opts: { body?: unknown; key?: string | null; header?: 'bearer' | 'x-api-key'; raw?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const k = opts.key === undefined ? key : opts.key;
  if (k) {
    if (opts.header === 'x-api-key') headers['X-API-Key'] = k;
    else headers.Authorization = `Bearer ${k}`;
  }
  const res = await fetch(`${srv.base}${path}`, { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function received(to: string) {
  await waitFor(() => rig.sink.received.some((r) => r.to.includes(to)), 15000, `mail to ${to}`);
  const got = rig.sink.received.find((r) => r.to.includes(to))!;
  return { ...got, mail: await simpleParser(got.raw) };
}

async function lookupUntil(id: string, status: string, k = key) {
  let last: any;
  await waitFor(
    async () => {
      last = await call('GET', `/email/v1/messages/${id}`, { key: k });
      return last.body.data?.status === status;
    },
    15000,
    `status ${status}`,
  );
  return last;
}

describe('POST /email/v1/send', () => {
  it('runs the spec’s cURL example with the real curl binary: 202 with every documented field, and the mail reaches the sink', async () => {
    const from = `hello@${rig.s.domain}`;
    const to = rcpt('customer');
    const r = await curl(SPEC_CURL, [
      ['https://platform.cyberpersons.com', srv.base],
      ['sk_live_YOUR_KEY', key],
      ['[email protected]', from],
      ['[email protected]', to],
    ]);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({
      success: true,
      data: { message_id: expect.any(String), status: 'sent', from, to, subject: 'Hello', sent_at: expect.stringMatching(ISO_SECONDS) },
    });
    const got = await received(to);
    expect(got.mail.subject).toBe('Hello');
    expect(got.mail.from?.value[0].address).toBe(from);
    expect(got.mail.html).toContain('<p>Hi there!</p>');

    const status = await lookupUntil(r.body.data.message_id, 'delivered');
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      success: true,
      data: {
        message_id: r.body.data.message_id,
        status: 'delivered',
        from,
        to,
        subject: 'Hello',
        queued_at: expect.stringMatching(ISO_SECONDS),
        sent_at: expect.stringMatching(ISO_SECONDS),
        delivered_at: expect.stringMatching(ISO_SECONDS),
        opened: false,
        opened_at: null,
        open_count: 0,
        clicked: false,
        click_count: 0,
        tags: [],
        metadata: {},
      },
    });
    expect(Date.parse(status.body.data.delivered_at)).toBeGreaterThanOrEqual(Date.parse(status.body.data.queued_at));
  });

  it('sends the Python, Node.js and PHP examples’ bodies (through fetch, Bearer key)', async () => {
    for (const lang of ['python', 'node', 'php']) {
      const to = rcpt(lang);
      const r = await call('POST', '/email/v1/send', { body: { from: `hello@${rig.s.domain}`, to, subject: 'Hello', html: '<p>Hi there!</p>' } });
      expect(r.status).toBe(202);
      expect(r.body.data).toMatchObject({ status: 'sent', to, subject: 'Hello' });
      await received(to);
    }
  });

  it('sends the full request-body example with X-API-Key: cc, bcc, reply_to, custom headers, tags and metadata', async () => {
    const [to, cc, bcc] = [rcpt('customer'), rcpt('manager'), rcpt('archive')];
    const body = {
      from: `orders@${rig.s.domain}`,
      to,
      subject: 'Order Confirmation',
      html: '<h1>Thank you!</h1>',
      text: 'Thank you for your order.',
      cc,
      bcc,
      reply_to: `support@${rig.s.domain}`,
      tags: ['order', 'confirmation'],
      metadata: { order_id: '12345' },
      headers: { 'X-Custom': 'value' },
    };
    const r = await call('POST', '/email/v1/send', { body, header: 'x-api-key' });
    expect(r.status).toBe(202);
    expect(r.body.data).toEqual({
      message_id: expect.any(String),
      status: 'sent',
      from: body.from,
      to,
      subject: 'Order Confirmation',
      sent_at: expect.stringMatching(ISO_SECONDS),
    });
    const got = await received(to);
    await received(bcc);
    expect(got.mail.cc).toMatchObject({ value: [{ address: cc }] });
    expect(got.raw.toString()).not.toContain(bcc);
    expect(got.mail.replyTo?.value[0].address).toBe(body.reply_to);
    expect(got.mail.headers.get('x-custom')).toBe('value');
    expect(got.mail.text?.trim()).toBe('Thank you for your order.');
    const status = await lookupUntil(r.body.data.message_id, 'delivered');
    expect(status.body.data).toMatchObject({ tags: ['order', 'confirmation'], metadata: { order_id: '12345' } });
  });

  it('takes to and cc as arrays and "Name <address>" strings; `to` answers one string, as the spec shows it', async () => {
    const [a, b] = [rcpt('first'), rcpt('second')];
    const r = await call('POST', '/email/v1/send', { body: { from: `Shop <shop@${rig.s.domain}>`, to: [a, `Second <${b}>`], subject: 'Two', text: 'Hi' } });
    expect(r.status).toBe(202);
    expect(r.body.data.to).toBe(`${a}, Second <${b}>`);
    const got = await received(a);
    expect(got.mail.from?.value[0]).toEqual({ address: `shop@${rig.s.domain}`, name: 'Shop' });
    const status = await lookupUntil(r.body.data.message_id, 'delivered');
    expect(status.body.data.to).toBe(`${a}, ${b}`);
    // The same two as one comma-separated string, the spec's type for `to`.
    const one = await call('POST', '/email/v1/send', { body: { from: `shop@${rig.s.domain}`, to: `${a}, ${b}`, subject: 'Two', text: 'Hi' } });
    expect(one.body.data.to).toBe(`${a}, ${b}`);
    expect((await call('GET', `/email/v1/messages/${one.body.data.message_id}`)).body.data.to).toBe(`${a}, ${b}`);
  });
});

describe('GET /email/v1/messages/{message_id}', () => {
  it('shows opens and clicks from the tracking events: opened, opened_at, open_count, clicked, click_count', async () => {
    const to = rcpt('reader');
    const r = await call('POST', '/email/v1/send', {
      body: { from: `news@${rig.s.domain}`, to, subject: 'News', html: '<p>Read <a href="https://shop.example/item">this</a>.</p>' },
    });
    const got = await received(to);
    const html = got.mail.html as string;
    const pixel = html.match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1].slice(TRACK.length);
    const link = html.match(/href="([^"]+\/t\/c\/[^"]+)"/)![1].slice(TRACK.length);
    await lookupUntil(r.body.data.message_id, 'delivered');
    for (const p of [pixel, pixel])
      expect((await fetch(`${srv.base}${p}`, { headers: { 'User-Agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15' } })).status).toBe(200);
    const click = await getAs(srv.base, TRACK, link, { 'User-Agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15' });
    expect(click.status).toBe(302);
    const status = await call('GET', `/email/v1/messages/${r.body.data.message_id}`);
    expect(status.body.data).toMatchObject({
      status: 'delivered',
      opened: true,
      opened_at: expect.stringMatching(ISO_SECONDS),
      open_count: 2,
      clicked: true,
      click_count: 1,
    });
  });

  it('counts a message with 200,000 opens (spreading its event times into Math.min threw a RangeError: HTTP 500)', async () => {
    const to = rcpt('heavy');
    const r = await call('POST', '/email/v1/send', { body: { from: `news@${rig.s.domain}`, to, subject: 'Heavy', text: 'T' } });
    const id = r.body.data.message_id;
    await lookupUntil(id, 'delivered');
    const first = Date.now();
    await insertOpens(rig.h.services.db, id, 200_000, { at: (i) => first + i });
    const status = await call('GET', `/email/v1/messages/${id}`);
    expect(status).toMatchObject({ status: 200, body: { data: { status: 'delivered', opened: true, open_count: 200_000, clicked: false } } });
    expect(status.body.data.opened_at).toBe(new Date(Math.floor(first / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  }, 120_000);

  it('answers 404 not_found for an unknown id and for another account’s message', async () => {
    expect(await call('GET', '/email/v1/messages/nope')).toMatchObject({
      status: 404,
      body: { success: false, error: { code: 'not_found', message: 'Message not found' } },
    });
    const other = await senderSetup(rig.h);
    const theirs = await call('POST', '/email/v1/send', {
      key: await accountKey(other.sessionId),
      body: { from: `a@${other.domain}`, to: rcpt('x'), subject: 'S', text: 'T' },
    });
    expect(theirs.status).toBe(202);
    expect((await call('GET', `/email/v1/messages/${theirs.body.data.message_id}`)).status).toBe(404);
  });
});

describe('GET /email/v1/account/stats', () => {
  it('answers every documented field: plan, limits, this month and a reputation score from bounces', async () => {
    const s = await senderSetup(rig.h);
    await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, LimitEmailSendPerPeriod: 50000 });
    const k = await accountKey(s.sessionId);
    for (const to of [rcpt('ok'), rcpt('bounce')])
      expect((await call('POST', '/email/v1/send', { key: k, body: { from: `a@${s.domain}`, to, subject: 'S', text: 'T' } })).status).toBe(202);
    await waitFor(
      async () => (await rig.h.services.db('deliveries').where({ user_id: s.userId }).whereIn('status', ['delivered', 'bounced'])).length === 2,
      15000,
      'both settled',
    );
    const r = await call('GET', '/email/v1/account/stats', { key: k });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      success: true,
      data: {
        plan: 'starter',
        status: 'active',
        monthly_limit: 50000,
        emails_sent_this_month: 2,
        emails_remaining: 49998,
        reputation_score: 50, // 50 % bounces: 100 − min(50, 5 × 50)
        domains_verified: 1,
        rate_limits: { per_minute: 100, per_hour: 6000, per_day: 144000 },
        this_month: { total: 2, delivered: 1, bounced: 1, opened: 0, clicked: 0 },
      },
    });
  });

  it('answers monthly_limit and emails_remaining as numbers, 0, for an account without a monthly limit', async () => {
    const s = await senderSetup(rig.h);
    await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, LimitEmailSendPerPeriod: 0 });
    const r = await call('GET', '/email/v1/account/stats', { key: await accountKey(s.sessionId) });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ monthly_limit: 0, emails_sent_this_month: 0, emails_remaining: 0 });
  });
});

describe('errors', () => {
  const send = (body: Record<string, unknown>, k: string | null = key) => call('POST', '/email/v1/send', { body, key: k });
  const base = () => ({ from: `hello@${rig.s.domain}`, to: rcpt('x'), subject: 'Hello', html: '<p>Hi</p>' });
  const expectError = (r: { status: number; body: any }, status: number, code: string) => {
    expect(r.status).toBe(status);
    expect(r.body).toEqual({
      success: false,
      error: { code, message: expect.any(String), ...(status === 429 || status === 503 ? { retry_after: expect.any(Number) } : {}) },
    });
  };

  it('400 invalid_request: missing fields, a bad address, malformed JSON', async () => {
    const { to: _to, ...noTo } = base();
    const r = await send(noTo);
    expectError(r, 400, 'invalid_request');
    expect(r.body.error.message).toBe('Missing required field: to');
    expectError(await send({ ...base(), html: undefined }), 400, 'invalid_request');
    const bad = await send({ ...base(), to: 'not-an-address' });
    expectError(bad, 400, 'invalid_request');
    expect(bad.body.error.message).toContain('not-an-address');
    expectError(await call('POST', '/email/v1/send', { raw: '{"from":' }), 400, 'invalid_request');
  });

  it('403 domain_not_verified, domain_not_found, account_inactive and forbidden', async () => {
    const pending = uniqueDomain('pending');
    await addDomain(rig.h, rig.s.sessionId, pending);
    expectError(await send({ ...base(), from: `a@${pending}` }), 403, 'domain_not_verified');
    const other = await senderSetup(rig.h);
    expectError(await send({ ...base(), from: `a@${other.domain}` }), 403, 'domain_not_found');
    const narrow = await accountKey(rig.s.sessionId, { Domains: pending });
    expectError(await send(base(), narrow), 403, 'forbidden');
    expectError(await send(base(), await accountKey(rig.s.sessionId, { AllowedIPs: '192.0.2.0/24' })), 403, 'forbidden');
    const readOnly = await accountKey(rig.s.sessionId, { CanSend: 0 });
    expectError(await send(base(), readOnly), 403, 'forbidden');
    const sendOnly = await accountKey(rig.s.sessionId, { CanReadAnalytics: 0 });
    expectError(await call('GET', '/email/v1/account/stats', { key: sendOnly }), 403, 'forbidden');
    const s = await senderSetup(rig.h);
    const k = await accountKey(s.sessionId);
    await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
    expectError(await send({ ...base(), from: `a@${s.domain}` }, k), 403, 'account_inactive');
  });

  it('401 without a key, with a made-up key and with a revoked one', async () => {
    expectError(await send(base(), null), 401, 'unauthorized');
    expectError(await send(base(), 'sk_live_made_up'), 401, 'unauthorized');
    const u = await createUser(rig.h);
    const made = await rig.h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'gone', KeyType: 'account' });
    await rig.h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: made.APIKeyID });
    expectError(await call('GET', '/email/v1/account/stats', { key: made.APIKey.APIKey }), 401, 'unauthorized');
  });

  it('429 rate_limit_exceeded with retry_after at the next month for a used-up monthly quota, the next midnight for a daily one', async () => {
    const s = await senderSetup(rig.h);
    const k = await accountKey(s.sessionId);
    const quota = async (limits: Record<string, number>) => {
      await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: s.userId, ...limits });
      // A limit of 0 counts nothing: the first send under the limit of 1 uses it up.
      expect((await send({ ...base(), from: `a@${s.domain}` }, k)).status).toBe(202);
      const r = await send({ ...base(), from: `a@${s.domain}` }, k);
      expectError(r, 429, 'rate_limit_exceeded');
      expect(r.headers.get('retry-after')).toBe(String(r.body.error.retry_after));
      return r.body.error.retry_after as number;
    };
    const d = new Date();
    const until = (t: number) => Math.ceil((t - d.getTime()) / 1000);
    const month = until(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
    const monthly = await quota({ LimitEmailSendPerPeriod: 1 });
    expect(monthly).toBeLessThanOrEqual(month);
    expect(monthly).toBeGreaterThanOrEqual(month - 30);
    const midnight = until(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
    const daily = await quota({ LimitEmailSendPerPeriod: 0, LimitEmailSendPerDay: 1 });
    expect(daily).toBeLessThanOrEqual(midnight);
    expect(daily).toBeGreaterThanOrEqual(midnight - 30);
  });

  it('429 rate_limit_exceeded with retry_after past the plan’s requests per minute', async () => {
    const s = await senderSetup(rig.h);
    const k = await accountKey(s.sessionId);
    await rig.h.services.limits.limit('plan:perMinute', 100, 60).consume(`u${s.userId}`, 100);
    const r = await call('GET', '/email/v1/account/stats', { key: k });
    expectError(r, 429, 'rate_limit_exceeded');
    expect(r.body.error.retry_after).toBeGreaterThanOrEqual(1);
    expect(r.headers.get('retry-after')).toBe(String(r.body.error.retry_after));
  });

  it('500 send_failed when the message cannot be written, and the next send works again', async () => {
    const db = rig.h.services.db;
    await db.schema.renameTable('events', 'events_away');
    try {
      const r = await send({ ...base(), html: '<a href="https://shop.example/">x</a>' });
      expectError(r, 500, 'send_failed');
      expect(r.body.error.message).toMatch(/^Internal error\. Quote request id \S+ when reporting it\.$/);
    } finally {
      await db.schema.renameTable('events_away', 'events');
    }
    expect((await send({ ...base(), html: '<a href="https://shop.example/">x</a>' })).status).toBe(202);
  });

  it('404 not_found in the CyberPanel shape for an unknown path under /email/v1', async () => {
    expectError(await call('GET', '/email/v1/nothing'), 404, 'not_found');
  });
});
