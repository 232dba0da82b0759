import crypto from 'node:crypto';
import { EventInput, recordEvents } from '../../src/events/record';
import { addDomain, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const codes = (r: { ErrorCode: number | number[] }) => ([] as number[]).concat(r.ErrorCode);
const DAY = 86_400_000;
const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A real message (so From, Subject and Tags exist), accepted but never delivered: no worker runs here. */
async function message(s: Sender, to: string[], tags: string[] = []): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Stats',
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: '', email: `news@${s.domain}` },
      To: to.map((email) => ({ name: '', email })),
      Tags: tags,
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

function ev(s: { domainId: number; userId: number }, messageId: string, type: string, at: number, data: Record<string, unknown>): EventInput {
  return { message_id: messageId, delivery_id: null, domain_id: s.domainId, user_id: s.userId, type, created_at: at, data };
}

describe('emailgateway.aggrevents', () => {
  let s: Sender;
  let m1: string;
  let m2: string;
  const day = Date.UTC(2025, 4, 10, 12); // 2025-05-10 12:00Z
  const range = { StartDate: '2025-05-01', EndDate: '2025-05-31' };
  const agg = (params: Record<string, unknown> = {}) =>
    h.call({ Command: 'emailgateway.aggrevents', SessionID: s.sessionId, DomainID: s.domainId, ...range, ...params });

  beforeAll(async () => {
    s = await senderSetup(h);
    m1 = await message(s, ['a@gmail.test'], ['welcome']);
    m2 = await message(s, ['b@yahoo.test'], ['welcome', 'promo']);
    const e = (m: string, type: string, recipient: string, offset: number) => ev(s, m, type, day + offset, { recipient });
    await recordEvents(h.services.db, [
      e(m1, 'delivered', 'a@gmail.test', 0),
      e(m1, 'opened', 'a@gmail.test', 1000),
      e(m1, 'opened', 'a@gmail.test', 2000),
      e(m1, 'clicked', 'A@Gmail.test', 3000),
      e(m2, 'delivered', 'c@gmail.test', 0),
      e(m2, 'bounced', 'b@yahoo.test', 0),
      e(m2, 'opened', 'c@gmail.test', 5000),
      // Outside May: never counted below.
      e(m1, 'delivered', 'a@gmail.test', 40 * DAY),
    ]);
  });

  it('counts events by type in the private vocabulary, most first, within the window', async () => {
    const r = await agg();
    expect(r.Success).toBe(true);
    expect(r.AggBuckets).toEqual([
      { key: 'open', doc_count: 3 },
      { key: 'delivery', doc_count: 2 },
      { key: 'bounce', doc_count: 1 },
      { key: 'click', doc_count: 1 },
    ]);
    expect((await agg({ AggregatedField: 'event' })).AggBuckets).toEqual(r.AggBuckets);
    expect((await agg({ AggregateSize: 2 })).AggBuckets).toEqual(r.AggBuckets.slice(0, 2));
    const june = await agg({ StartDate: '2025-06-01', EndDate: '2025-06-30' });
    expect(june.AggBuckets).toEqual([{ key: 'delivery', doc_count: 1 }]);
  });

  it('counts by recipient domain under either spelling, case-insensitively', async () => {
    const r = await agg({ AggregatedField: 'recipient_domain' });
    expect(r.AggBuckets).toEqual([
      { key: 'gmail.test', doc_count: 6 },
      { key: 'yahoo.test', doc_count: 1 },
    ]);
    expect((await agg({ AggregatedField: 'message.to-domain' })).AggBuckets).toEqual(r.AggBuckets);
    expect((await agg({ AggregatedField: 'recipient_domain', Event: 'open' })).AggBuckets).toEqual([{ key: 'gmail.test', doc_count: 3 }]);
    expect((await agg({ AggregatedField: 'recipient', AggregateSize: 1 })).AggBuckets).toEqual([{ key: 'a@gmail.test', doc_count: 4 }]);
  });

  it("counts by the messages' tags", async () => {
    // m1 (welcome): 4 events in May; m2 (welcome, promo): 3; the queued events of both sends happened today.
    const r = await agg({ AggregatedField: 'tag', Event: 'delivered' });
    expect(r.AggBuckets).toEqual([
      { key: 'welcome', doc_count: 2 },
      { key: 'promo', doc_count: 1 },
    ]);
    const all = await agg({ AggregatedField: 'tag' });
    expect(all.AggBuckets).toEqual([
      { key: 'welcome', doc_count: 7 },
      { key: 'promo', doc_count: 3 },
    ]);
  });

  it('defaults to the last 30 days', async () => {
    const r = await h.call({ Command: 'emailgateway.aggrevents', SessionID: s.sessionId, DomainID: s.domainId });
    // Only the two queued events of today's sends.
    expect(r.AggBuckets).toEqual([{ key: 'queued', doc_count: 2 }]);
  });

  it('answers 1 without DomainID, 2 for a domain of another user, 3 for a bad field, size or date', async () => {
    expect(codes(await h.call({ Command: 'emailgateway.aggrevents', SessionID: s.sessionId }))).toEqual([1]);
    const other = await createUser(h);
    expect(await h.call({ Command: 'emailgateway.aggrevents', SessionID: other.sessionId, DomainID: s.domainId })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
    expect(codes(await agg({ AggregatedField: 'subject' }))).toEqual([3]);
    expect(codes(await agg({ AggregateSize: 0 }))).toEqual([3]);
    expect(codes(await agg({ AggregateSize: 1001 }))).toEqual([3]);
    expect(codes(await agg({ StartDate: '2025-5-1' }))).toEqual([3]);
    expect(codes(await agg({ StartDate: undefined, EndDate: '0100-01-15' }))).toEqual([3]);
  });

  it('answers windows at the ends of the calendar (the day after them answered HTTP 500)', async () => {
    for (const dates of [
      { StartDate: undefined, EndDate: '9998-12-31' },
      { StartDate: '9999-12-31', EndDate: '9999-12-31' },
      { StartDate: undefined, EndDate: '1000-01-15' },
    ])
      expect(await agg(dates)).toMatchObject({ Success: true, ErrorCode: 0, AggBuckets: [] });
  });
});

describe('emailgateway.dailyseries', () => {
  const series = (sessionId: string, params: Record<string, unknown> = {}) => h.call({ Command: 'emailgateway.dailyseries', SessionID: sessionId, ...params });

  it('gives exact per-day figures, omits empty days, counts unique opens and clicks only', async () => {
    const s = await senderSetup(h);
    const m = crypto.randomUUID();
    const d1 = Date.UTC(2025, 0, 5);
    const d3 = Date.UTC(2025, 0, 7);
    const at = (base: number, h: number) => base + h * 3_600_000;
    await recordEvents(h.services.db, [
      ev(s, m, 'queued', at(d1, 1), { recipient: 'a@x.test' }),
      ev(s, m, 'delivered', at(d1, 1), { recipient: 'a@x.test' }),
      ev(s, m, 'delivered', at(d1, 23.99), { recipient: 'b@x.test' }),
      ev(s, m, 'bounced', at(d1, 5), { recipient: 'c@x.test' }),
      ev(s, m, 'opened', at(d1, 6), { recipient: 'a@x.test', unique: true }),
      ev(s, m, 'opened', at(d1, 7), { recipient: 'a@x.test', unique: false }),
      ev(s, m, 'clicked', at(d1, 8), { recipient: 'a@x.test', unique: true }),
      ev(s, m, 'deferred', at(d1, 9), { recipient: 'd@x.test' }),
      ev(s, m, 'delivered', at(d3, 0), { recipient: 'd@x.test' }),
      ev(s, m, 'opened', at(d3, 2), { recipient: 'd@x.test', unique: true }),
      ev(s, m, 'clicked', at(d3, 3), { recipient: 'd@x.test', unique: true }),
      ev(s, m, 'clicked', at(d3, 4), { recipient: 'd@x.test', unique: false }),
      ev(s, m, 'delivered', Date.UTC(2025, 0, 9), { recipient: 'e@x.test' }), // after EndDate
    ]);
    const r = await series(s.sessionId, { DomainID: s.domainId, StartDate: '2025-01-01', EndDate: '2025-01-08' });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, StartDate: '2025-01-01 00:00:00', EndDate: '2025-01-08 23:59:59' });
    expect(r.Series).toEqual({
      '2025-01-05': { Sent: 2, Bounced: 1, Opened: 1, Clicked: 1 },
      '2025-01-07': { Sent: 1, Bounced: 0, Opened: 1, Clicked: 1 },
    });
    expect(Object.keys(r.Series)).toEqual(['2025-01-05', '2025-01-07']);
  });

  it('puts events on the local days of the user time zone (half-hour offsets and daylight-saving changes)', async () => {
    for (const [tz, events, expected] of [
      ['Asia/Kolkata', ['2025-01-01T18:29:59Z', '2025-01-01T18:30:00Z'], { '2025-01-01': 1, '2025-01-02': 1 }],
      [
        'America/New_York',
        ['2025-03-09T04:59:59Z', '2025-03-09T05:00:00Z', '2025-03-10T03:59:59Z', '2025-03-10T04:00:00Z', '2025-03-10T04:00:01Z'],
        { '2025-03-08': 1, '2025-03-09': 2, '2025-03-10': 2 },
      ],
    ] as const) {
      const u = await createUser(h, { TimeZone: tz });
      const domainId = await addDomain(h, u.sessionId, `tz.${crypto.randomBytes(4).toString('hex')}.example.com`);
      await recordEvents(
        h.services.db,
        events.map((iso) => ev({ domainId, userId: u.userId }, crypto.randomUUID(), 'delivered', Date.parse(iso), { recipient: 'x@y.test' })),
      );
      const r = await series(u.sessionId, { DomainID: domainId, StartDate: '2024-12-01', EndDate: '2025-04-01' });
      const sent = Object.fromEntries(Object.entries(r.Series).map(([d, f]: [string, any]) => [d, f.Sent]));
      expect([tz, sent]).toEqual([tz, expected]);
    }
  });

  it("adds up all of the caller's domains when DomainID is absent, and answers 2 for another user's domain", async () => {
    const u = await createUser(h);
    const a = await addDomain(h, u.sessionId, `a.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const b = await addDomain(h, u.sessionId, `b.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const t = Date.UTC(2025, 1, 2, 10);
    await recordEvents(h.services.db, [
      ev({ domainId: a, userId: u.userId }, crypto.randomUUID(), 'delivered', t, { recipient: 'x@y.test' }),
      ev({ domainId: b, userId: u.userId }, crypto.randomUUID(), 'delivered', t, { recipient: 'x@y.test' }),
      ev({ domainId: b, userId: u.userId }, crypto.randomUUID(), 'bounced', t, { recipient: 'x@y.test' }),
    ]);
    const range = { StartDate: '2025-02-01', EndDate: '2025-02-28' };
    expect((await series(u.sessionId, range)).Series).toEqual({ '2025-02-02': { Sent: 2, Bounced: 1, Opened: 0, Clicked: 0 } });
    expect((await series(u.sessionId, { ...range, DomainID: a })).Series).toEqual({ '2025-02-02': { Sent: 1, Bounced: 0, Opened: 0, Clicked: 0 } });
    const other = await createUser(h);
    expect(await series(other.sessionId, { ...range, DomainID: a })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect((await series(other.sessionId, range)).Series).toEqual({});
  });

  it('defaults to the 30 days up to today and treats invalid dates as absent', async () => {
    const s = await senderSetup(h);
    const now = Date.now();
    await recordEvents(h.services.db, [
      ev(s, crypto.randomUUID(), 'delivered', now, { recipient: 'x@y.test' }),
      ev(s, crypto.randomUUID(), 'delivered', now - 45 * DAY, { recipient: 'x@y.test' }),
    ]);
    const today = ymd(Date.now());
    const r = await series(s.sessionId, { DomainID: s.domainId });
    expect(r.EndDate).toBe(`${today} 23:59:59`);
    expect(r.StartDate).toBe(`${ymd(Date.parse(today) - 30 * DAY)} 00:00:00`);
    expect(r.Series).toEqual({ [ymd(now)]: { Sent: 1, Bounced: 0, Opened: 0, Clicked: 0 } });
    const invalid = await series(s.sessionId, { DomainID: s.domainId, StartDate: 'last week', EndDate: '2025-02-31' });
    expect(invalid.Series).toEqual(r.Series);
    expect(invalid.EndDate).toBe(r.EndDate);
    // Before year 1000 is not a date here: treated as absent (its default start, in year 99, answered HTTP 500).
    const ancient = await series(s.sessionId, { DomainID: s.domainId, EndDate: '0100-01-15' });
    expect(ancient).toMatchObject({ Success: true, ErrorCode: 0, EndDate: r.EndDate, Series: r.Series });
  });

  it('answers windows at the ends of the calendar: the last days of 9998 and 9999, and a default start not before 1000-01-01', async () => {
    const s = await senderSetup(h);
    // The day after 9998-12-31 answered HTTP 500, in the window's end and in the series' day slices.
    for (const EndDate of ['9998-12-31', '9999-12-31']) {
      const r = await series(s.sessionId, { DomainID: s.domainId, StartDate: `${EndDate.slice(0, 4)}-12-01`, EndDate });
      expect(r).toMatchObject({ Success: true, ErrorCode: 0, StartDate: `${EndDate.slice(0, 4)}-12-01 00:00:00`, EndDate: `${EndDate} 23:59:59`, Series: {} });
    }
    const early = await series(s.sessionId, { DomainID: s.domainId, EndDate: '1000-01-15' });
    expect(early).toMatchObject({ Success: true, ErrorCode: 0, StartDate: '1000-01-01 00:00:00', EndDate: '1000-01-15 23:59:59', Series: {} });
  });
});
