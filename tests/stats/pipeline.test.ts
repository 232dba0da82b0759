import crypto from 'node:crypto';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';

/**
 * Mail sent through the real doors (POST /api/v1/email, the delivery worker, a sink that refuses one
 * recipient) moves every statistic; opens and a click on the delivered mail's tracking URLs, through HTTP, move
 * Opened and Clicked (unique per delivery).
 */
let rig: RelayRig;
const rcptDomain = `rcpt-${crypto.randomBytes(3).toString('hex')}.test`;
const to = (label: string) => `${label}@${rcptDomain}`;

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: 'http://t.postern.test' });
  rig.sink.onRcpt = (address) => (address.startsWith('refused@') ? smtpError(550, '5.1.1 no such user') : undefined);
  const r = await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: rig.s.userId, LimitEmailSendPerPeriod: 100 });
  expect(r.Success).toBe(true);
}, 60000);

afterAll(async () => {
  await rig.close();
});

async function send(recipient: string, html = false): Promise<string> {
  const content = html
    ? { ContentType: 'html', HTMLContent: '<p>Thanks. <a href="https://shop.example/r/1">Your receipt</a></p>' }
    : { ContentType: 'plain', PlainContent: 'Thanks.' };
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: { Subject: 'Receipt', ...content, From: { email: `shop@${rig.s.domain}` }, To: [{ email: recipient }], Tags: ['receipt'] },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

async function settled(messageId: string, status: string) {
  await waitFor(
    async () => (await rig.h.services.db('deliveries').where({ message_id: messageId }).first())?.status === status,
    20000,
    `${messageId} ${status}`,
  );
  // The event is written in the same transaction as the status.
  await waitFor(async () => !!(await rig.h.services.db('events').where({ message_id: messageId, type: status }).first()), 15_000, `${status} event`);
}

describe('statistics from the send pipeline', () => {
  let delivered: string;

  beforeAll(async () => {
    const zero = await rig.h.call({ Command: 'emailgateway.domainstats', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
    expect(zero.Stats).toEqual({ Sent: 0, Delivered: 0, Bounced: 0, Opened: 0, Clicked: 0 });
    delivered = await send(to('first'), true);
    const second = await send(to('second'));
    const refused = await send(to('refused'));
    await settled(delivered, 'delivered');
    await settled(second, 'delivered');
    await settled(refused, 'bounced');
    // The reader opens the mail twice and clicks its link twice, through the tracking URLs it carries.
    const raw = rig.sink.received.find((r) => r.to[0] === to('first'))!.raw.toString();
    const unfolded = raw.replace(/=\r\n/g, '').replace(/=3D/g, '=');
    const pixel = unfolded.match(/http:\/\/t\.postern\.test(\/t\/o\/[A-Za-z0-9_.-]+\.gif)/)![1];
    const click = unfolded.match(/http:\/\/t\.postern\.test(\/t\/c\/[A-Za-z0-9_.-]+)/)![1];
    for (let i = 0; i < 2; i++) expect((await rig.h.request('GET', pixel, { headers: { 'User-Agent': 'Mozilla/5.0 (X11) Firefox/130.0' } })).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expect(
        (await rig.h.request('GET', click, { headers: { Host: 't.postern.test', 'User-Agent': 'Mozilla/5.0 (X11) Firefox/130.0' } })).headers.location,
      ).toBe('https://shop.example/r/1');
  }, 60000);

  it('domainstats counts sent, delivered, bounced and opened mail, per tag too', async () => {
    const r = await rig.h.call({ Command: 'emailgateway.domainstats', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
    const expected = { Sent: 3, Delivered: 2, Bounced: 1, Opened: 1, Clicked: 1 };
    expect(r).toMatchObject({
      Success: true,
      Stats: expected,
      ComparisonStats: { PreviousPeriod: { Sent: 0, Delivered: 0, Bounced: 0, Opened: 0, Clicked: 0 } },
    });
    expect(r.TagStats).toEqual({ receipt: expected });
  });

  it('recipientdomainstats and listrecipientdomains time the worker-recorded outcomes', async () => {
    const r = await rig.h.call({
      Command: 'emailgateway.recipientdomainstats',
      SessionID: rig.s.sessionId,
      DomainID: rig.s.domainId,
      RecipientToDomain: rcptDomain,
    });
    expect(r.SummaryStats.map((s: any) => [s.Status, s.TotalEmails])).toEqual([
      ['Sent', 2],
      ['Failed', 1],
    ]);
    const inBuckets = (rows: any[]) => rows.reduce((n, b) => n + b.EmailCount, 0);
    expect(inBuckets(r.DeliverySpeedHistogram.Sent)).toBe(2);
    expect(inBuckets(r.DeliverySpeedHistogram.Failed)).toBe(1);
    expect(r.SummaryStats[0].MaxDeliverySeconds).toBeLessThan(30);

    const list = await rig.h.call({ Command: 'emailgateway.listrecipientdomains', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
    expect(list.RecipientDomains).toEqual([expect.objectContaining({ Domain: rcptDomain, Sent: 2, Failed: 1, Sending: 0 })]);
  });

  it('accountstats totals the account', async () => {
    const r = await rig.h.call({ Command: 'emailgateway.accountstats', SessionID: rig.s.sessionId });
    expect(r.Totals).toEqual({
      Sent: 3,
      Delivered: 2,
      Bounced: 1,
      Opened: 1,
      Clicked: 1,
      DeliveryRate: 66.67,
      OpenRate: 33.33,
      ClickRate: 33.33,
      BounceRate: 33.33,
    });
    expect(r.PerDomain).toEqual([expect.objectContaining({ DomainID: rig.s.domainId, Sent: 3 })]);
  });

  it('GET /api/v1/stats shows plan, limits, usage, what remains and this month for the key', async () => {
    const res = await rig.h.request('GET', '/api/v1/stats', { headers: { Authorization: `Bearer ${rig.s.key}` } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      Plan: 'Default',
      AccountStatus: 'Enabled',
      DomainID: rig.s.domainId,
      SenderDomain: rig.s.domain,
      Limits: { MonthlyLimit: 100, DailyLimit: 0 },
      SentThisMonth: 3,
      SentToday: 3,
      RemainingThisMonth: 97,
      RemainingToday: null,
      RateLimits: { RequestsPerMinute: rig.h.services.config.apiRateLimitPerMinute },
      ThisMonth: { Sent: 3, Delivered: 2, Bounced: 1, Opened: 1, Clicked: 1, DeliveryRate: 66.67, BounceRate: 33.33, OpenRate: 33.33, ClickRate: 33.33 },
    });
  });

  it('GET /api/v1/stats refuses a missing or unknown key', async () => {
    const none = await rig.h.request('GET', '/api/v1/stats');
    expect(none.status).toBe(200); // upstream §2.1: HTTP 200 with Errors[]
    expect(none.body.Errors[0].Code).toBe(1);
    const bad = await rig.h.request('GET', '/api/v1/stats', { headers: { Authorization: 'Bearer nope' } });
    expect(bad.body.Errors[0].Code).toBe(13);
  });
});
