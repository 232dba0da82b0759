import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { DeliverySpec, Owner, seed, seedSuppressed } from './seed';

/**
 * One seeded data set, read back through /api.php by every stats command.
 *
 * Domain A, window 2026-03-10..2026-03-12 (previous period 03-07..03-09):
 * - G1..G10 → gmail.com, accepted 03-10 10:00Z, delivered after 0,0,2,4,7,15,45,120,400,700 s; G1..G6 tagged
 *   "welcome". Opens: G1 (unique, then again), G2 (unique), G3 (unique, 03-13 00:30Z: outside the UTC window,
 *   inside New York's 03-12). Clicks: G1 (unique, then again).
 * - Y1..Y4 → yahoo.com, accepted 03-11 12:00Z, tagged "promo": bounced after 3 s and 8 s, failed after 4000 s,
 *   and one bounce reported by DSN 20 s later without seconds. Plus one suppressed yahoo.com recipient.
 * - Q1, Q2 → gmail.com accepted 03-12 23:30Z, not settled yet.
 * - E1 → early.test accepted 03-10 02:00Z (03-09 22:00 in New York), delivered after 1 s.
 * - P1..P4 → gmail.com accepted 03-08 12:00Z: three delivered after 1 s, one bounced after 2 s; P1, P2 "welcome".
 * Domain B (same user): two → hotmail.com accepted 03-11 09:00Z, one delivered (and opened), one pending.
 * Domain D (same user): nothing. Domain C: another user's, with mail of its own.
 */
let h: Harness;
let me: Awaited<ReturnType<typeof createUser>>;
let other: Awaited<ReturnType<typeof createUser>>;
let A: Owner, B: Owner, C: Owner, D: Owner;
let names: Record<string, string>;

const day = (d: string, t: string) => `2026-03-${d}T${t}Z`;
const WINDOW = { StartDate: '2026-03-10', EndDate: '2026-03-12' };

beforeAll(async () => {
  h = await startHarness();
  me = await createUser(h);
  other = await createUser(h);
  names = { A: uniqueDomain('a'), B: uniqueDomain('b'), C: uniqueDomain('c'), D: uniqueDomain('d') };
  A = { userId: me.userId, domainId: await addDomain(h, me.sessionId, names.A) };
  B = { userId: me.userId, domainId: await addDomain(h, me.sessionId, names.B) };
  D = { userId: me.userId, domainId: await addDomain(h, me.sessionId, names.D) };
  C = { userId: other.userId, domainId: await addDomain(h, other.sessionId, names.C) };

  const seconds = [0, 0, 2, 4, 7, 15, 45, 120, 400, 700];
  const gmail: DeliverySpec[] = seconds.map((s, i) => ({
    to: `g${i + 1}@gmail.com`,
    at: day('10', '10:00:00'),
    tags: i < 6 ? ['welcome'] : [],
    outcome: { type: 'delivered', seconds: s },
  }));
  gmail[0].opens = [
    { at: day('10', '11:00:00'), unique: true },
    { at: day('10', '12:00:00'), unique: false },
  ];
  gmail[0].clicks = [
    { at: day('10', '11:05:00'), unique: true },
    { at: day('10', '11:06:00'), unique: false },
  ];
  gmail[1].opens = [{ at: day('10', '11:00:00'), unique: true }];
  gmail[2].opens = [{ at: day('13', '00:30:00'), unique: true }];
  await seed(h, A, gmail);
  await seed(h, A, [
    { to: 'y1@yahoo.com', at: day('11', '12:00:00'), tags: ['promo'], outcome: { type: 'bounced', seconds: 3 } },
    { to: 'y2@yahoo.com', at: day('11', '12:00:00'), tags: ['promo'], outcome: { type: 'bounced', seconds: 8 } },
    { to: 'y3@yahoo.com', at: day('11', '12:00:00'), tags: ['promo'], outcome: { type: 'failed', seconds: 4000 } },
    { to: 'y4@Yahoo.com', at: day('11', '12:00:00'), tags: ['promo'], outcome: { type: 'bounced', seconds: 20, omitSeconds: true } },
    { to: 'q1@gmail.com', at: day('12', '23:30:00') },
    { to: 'q2@gmail.com', at: day('12', '23:30:00') },
    { to: 'e1@early.test', at: day('10', '02:00:00'), outcome: { type: 'delivered', seconds: 1 } },
    { to: 'p1@gmail.com', at: day('08', '12:00:00'), tags: ['welcome'], outcome: { type: 'delivered', seconds: 1 } },
    { to: 'p2@gmail.com', at: day('08', '12:00:00'), tags: ['welcome'], outcome: { type: 'delivered', seconds: 1 } },
    { to: 'p3@gmail.com', at: day('08', '12:00:00'), outcome: { type: 'delivered', seconds: 1 } },
    { to: 'p4@gmail.com', at: day('08', '12:00:00'), outcome: { type: 'bounced', seconds: 2 } },
  ]);
  await seedSuppressed(h, A, 's1@yahoo.com', day('11', '12:00:00'));
  await seed(h, B, [
    { to: 'h1@hotmail.com', at: day('11', '09:00:00'), outcome: { type: 'delivered', seconds: 3 }, opens: [{ at: day('11', '10:00:00'), unique: true }] },
    { to: 'h2@hotmail.com', at: day('11', '09:00:00') },
  ]);
  await seed(h, C, [
    { to: 'x1@gmail.com', at: day('11', '09:00:00'), tags: ['welcome'], outcome: { type: 'delivered', seconds: 1 } },
    { to: 'x2@gmail.com', at: day('11', '09:00:00'), outcome: { type: 'delivered', seconds: 1 } },
  ]);
}, 120000);

afterAll(async () => {
  await h.close();
});

const call = (command: string, params: Record<string, unknown> = {}, sessionId = me.sessionId) => h.call({ Command: command, SessionID: sessionId, ...params });

async function setTimeZone(userId: number, tz: string) {
  const r = await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: userId, TimeZone: tz });
  expect(r.Success).toBe(true);
}

describe('emailgateway.domainstats', () => {
  it('answers the exact Stats, PreviousPeriod and TagStats of the seeded window (UTC days)', async () => {
    const r = await call('emailgateway.domainstats', { DomainID: A.domainId, ...WINDOW });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      Stats: { Sent: 17, Delivered: 11, Bounced: 3, Opened: 2, Clicked: 1 },
      ComparisonStats: { PreviousPeriod: { Sent: 4, Delivered: 3, Bounced: 1, Opened: 0, Clicked: 0 } },
      TagStats: {
        promo: { Sent: 4, Delivered: 0, Bounced: 3, Opened: 0, Clicked: 0 },
        welcome: { Sent: 6, Delivered: 6, Bounced: 0, Opened: 2, Clicked: 1 },
      },
    });
  });

  it("moves the day boundaries to the user's time zone", async () => {
    await setTimeZone(me.userId, 'America/New_York');
    try {
      const r = await call('emailgateway.domainstats', { DomainID: A.domainId, ...WINDOW });
      // 03-10 00:00 EDT is 04:00Z: E1 (02:00Z) moves to the previous period, G3's open (03-13 00:30Z) moves in.
      expect(r.Stats).toEqual({ Sent: 16, Delivered: 10, Bounced: 3, Opened: 3, Clicked: 1 });
      expect(r.ComparisonStats.PreviousPeriod).toEqual({ Sent: 5, Delivered: 4, Bounced: 1, Opened: 0, Clicked: 0 });
      expect(r.TagStats.welcome).toEqual({ Sent: 6, Delivered: 6, Bounced: 0, Opened: 3, Clicked: 1 });
    } finally {
      await setTimeZone(me.userId, 'UTC');
    }
  });

  it('counts one day when StartDate and EndDate are the same, and clamps an EndDate before StartDate', async () => {
    const one = await call('emailgateway.domainstats', { DomainID: A.domainId, StartDate: '2026-03-11', EndDate: '2026-03-11' });
    expect(one.Stats).toEqual({ Sent: 4, Delivered: 0, Bounced: 3, Opened: 0, Clicked: 0 });
    expect(one.ComparisonStats.PreviousPeriod).toEqual({ Sent: 11, Delivered: 11, Bounced: 0, Opened: 2, Clicked: 1 });
    const clamped = await call('emailgateway.domainstats', { DomainID: A.domainId, StartDate: '2026-03-11', EndDate: '2026-03-01' });
    expect(clamped.Stats).toEqual(one.Stats);
  });

  it('reads a malformed date as its default (the last 28 days), which holds none of the March 2026 mail', async () => {
    const r = await call('emailgateway.domainstats', { DomainID: A.domainId, StartDate: 'not-a-date', EndDate: '2026-13-45' });
    expect(r.Stats).toEqual({ Sent: 0, Delivered: 0, Bounced: 0, Opened: 0, Clicked: 0 });
    expect(r.TagStats).toEqual({});
  });

  it("answers ErrorCode 2 for another user's domain and for a domain that does not exist, 1 without DomainID", async () => {
    expect(await call('emailgateway.domainstats', { DomainID: C.domainId, ...WINDOW })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await call('emailgateway.domainstats', { DomainID: 999999, ...WINDOW })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await call('emailgateway.domainstats', { DomainID: 'abc' })).toMatchObject({ Success: false, ErrorCode: [2] });
    expect(await call('emailgateway.domainstats', {})).toMatchObject({ Success: false, ErrorCode: [1] });
    // The owner sees C's own figures.
    const theirs = await call('emailgateway.domainstats', { DomainID: C.domainId, ...WINDOW }, other.sessionId);
    expect(theirs.Stats).toEqual({ Sent: 2, Delivered: 2, Bounced: 0, Opened: 0, Clicked: 0 });
  });

  it('requires authentication', async () => {
    expect(await h.call({ Command: 'emailgateway.domainstats', DomainID: A.domainId })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('emailgateway.recipientdomainstats', () => {
  it('answers summary and the eight-bucket histogram for delivered mail', async () => {
    const r = await call('emailgateway.recipientdomainstats', { DomainID: A.domainId, RecipientToDomain: 'gmail.com', ...WINDOW });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      SummaryStats: [
        { Status: 'Sent', TotalEmails: 10, AvgDeliverySeconds: 129.3, MinDeliverySeconds: 0, MaxDeliverySeconds: 700 },
        { Status: 'Failed', TotalEmails: 0, AvgDeliverySeconds: null, MinDeliverySeconds: null, MaxDeliverySeconds: null },
      ],
      DeliverySpeedHistogram: {
        Sent: [
          { DeliveryBucket: '< 1s', EmailCount: 2, Percentage: 20 },
          { DeliveryBucket: '1-5s', EmailCount: 2, Percentage: 20 },
          { DeliveryBucket: '5-10s', EmailCount: 1, Percentage: 10 },
          { DeliveryBucket: '10-30s', EmailCount: 1, Percentage: 10 },
          { DeliveryBucket: '30-60s', EmailCount: 1, Percentage: 10 },
          { DeliveryBucket: '1-5m', EmailCount: 1, Percentage: 10 },
          { DeliveryBucket: '5-10m', EmailCount: 1, Percentage: 10 },
          { DeliveryBucket: '> 10m', EmailCount: 1, Percentage: 10 },
        ],
        Failed: [],
      },
    });
  });

  it('counts bounced and given-up mail as Failed, timing a DSN bounce from its acceptance', async () => {
    const r = await call('emailgateway.recipientdomainstats', { DomainID: A.domainId, RecipientToDomain: 'YAHOO.com', ...WINDOW });
    expect(r.SummaryStats).toEqual([
      { Status: 'Sent', TotalEmails: 0, AvgDeliverySeconds: null, MinDeliverySeconds: null, MaxDeliverySeconds: null },
      { Status: 'Failed', TotalEmails: 4, AvgDeliverySeconds: 1007.75, MinDeliverySeconds: 3, MaxDeliverySeconds: 4000 },
    ]);
    expect(r.DeliverySpeedHistogram).toEqual({
      Sent: [],
      Failed: [
        { DeliveryBucket: '1-5s', EmailCount: 1, Percentage: 25 },
        { DeliveryBucket: '5-10s', EmailCount: 1, Percentage: 25 },
        { DeliveryBucket: '10-30s', EmailCount: 1, Percentage: 25 },
        { DeliveryBucket: '> 10m', EmailCount: 1, Percentage: 25 },
      ],
    });
  });

  it('rounds percentages to two decimals', async () => {
    const r = await call('emailgateway.recipientdomainstats', {
      DomainID: A.domainId,
      RecipientToDomain: 'gmail.com',
      StartDate: '2026-03-01',
      EndDate: '2026-03-31',
    });
    // 13 delivered: the ten above plus P1..P3 at 1 s.
    expect(r.SummaryStats[0]).toMatchObject({ TotalEmails: 13, MinDeliverySeconds: 0, MaxDeliverySeconds: 700, AvgDeliverySeconds: 99.69 });
    expect(r.DeliverySpeedHistogram.Sent[0]).toEqual({ DeliveryBucket: '< 1s', EmailCount: 2, Percentage: 15.38 });
    expect(r.DeliverySpeedHistogram.Sent[1]).toEqual({ DeliveryBucket: '1-5s', EmailCount: 5, Percentage: 38.46 });
    expect(r.SummaryStats[1]).toMatchObject({ TotalEmails: 1, MinDeliverySeconds: 2, MaxDeliverySeconds: 2 });
  });

  it('answers codes 1 and 2 as the contract lists them', async () => {
    expect(await call('emailgateway.recipientdomainstats', { DomainID: A.domainId })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await call('emailgateway.recipientdomainstats', { RecipientToDomain: 'gmail.com' })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await call('emailgateway.recipientdomainstats', { DomainID: C.domainId, RecipientToDomain: 'gmail.com' })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
  });
});

describe('emailgateway.accountstats', () => {
  it('answers Totals, ComparisonTotals and zero-filled PerDomain sorted by Sent', async () => {
    const r = await call('emailgateway.accountstats', WINDOW);
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      StartDate: '2026-03-10 00:00:00',
      EndDate: '2026-03-12 23:59:59',
      Totals: { Sent: 19, Delivered: 12, Bounced: 3, Opened: 3, Clicked: 1, DeliveryRate: 63.16, OpenRate: 15.79, ClickRate: 5.26, BounceRate: 15.79 },
      ComparisonTotals: { Sent: 4, Delivered: 3, Bounced: 1, Opened: 0, Clicked: 0, DeliveryRate: 75, OpenRate: 0, ClickRate: 0, BounceRate: 25 },
      PerDomain: [
        {
          DomainID: A.domainId,
          SenderDomain: names.A,
          Sent: 17,
          Delivered: 11,
          Bounced: 3,
          Opened: 2,
          Clicked: 1,
          DeliveryRate: 64.71,
          BounceRate: 17.65,
          OpenRate: 11.76,
          ClickRate: 5.88,
        },
        {
          DomainID: B.domainId,
          SenderDomain: names.B,
          Sent: 2,
          Delivered: 1,
          Bounced: 0,
          Opened: 1,
          Clicked: 0,
          DeliveryRate: 50,
          BounceRate: 0,
          OpenRate: 50,
          ClickRate: 0,
        },
        {
          DomainID: D.domainId,
          SenderDomain: names.D,
          Sent: 0,
          Delivered: 0,
          Bounced: 0,
          Opened: 0,
          Clicked: 0,
          DeliveryRate: 0,
          BounceRate: 0,
          OpenRate: 0,
          ClickRate: 0,
        },
      ],
    });
  });

  it('keeps only owned ids from DomainIDs and clamps EndDate', async () => {
    const r = await call('emailgateway.accountstats', { DomainIDs: `${B.domainId},${C.domainId}, x`, StartDate: '2026-03-10', EndDate: '2026-02-01' });
    expect(r.EndDate).toBe('2026-03-10 23:59:59');
    const wide = await call('emailgateway.accountstats', { DomainIDs: `${B.domainId},${C.domainId}`, ...WINDOW });
    expect(wide.PerDomain.map((d: any) => d.DomainID)).toEqual([B.domainId]);
    expect(wide.Totals).toMatchObject({ Sent: 2, Delivered: 1, Opened: 1 });
    const none = await call('emailgateway.accountstats', { DomainIDs: String(C.domainId), ...WINDOW });
    expect(none.PerDomain).toEqual([]);
    expect(none.Totals.Sent).toBe(0);
  });

  it('ignores duplicates and ids beyond the caller’s domains however many DomainIDs there are (40,000 answered HTTP 500)', async () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => (i % 1000 === 0 ? B.domainId : 1_000_000_000 + i));
    const r = await call('emailgateway.accountstats', { DomainIDs: [...ids, C.domainId].join(','), ...WINDOW });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, Totals: { Sent: 2, Delivered: 1, Opened: 1 } });
    expect(r.PerDomain.map((d: any) => d.DomainID)).toEqual([B.domainId]);
  });

  it('answers the scalar 99998 without credentials', async () => {
    expect(await h.call({ Command: 'emailgateway.accountstats' })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('emailgateway.listrecipientdomains', () => {
  it('lists recipient domains by Sent with Failed, Sending and delivery seconds', async () => {
    const r = await call('emailgateway.listrecipientdomains', { DomainID: A.domainId, ...WINDOW });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      StartDate: '2026-03-10 00:00:00',
      EndDate: '2026-03-12 23:59:59',
      Limit: 50,
      RecipientDomains: [
        { Domain: 'gmail.com', Sent: 10, Failed: 0, Sending: 2, AvgDeliverySec: 129.3, MinDeliverySec: 0, MaxDeliverySec: 700 },
        { Domain: 'early.test', Sent: 1, Failed: 0, Sending: 0, AvgDeliverySec: 1, MinDeliverySec: 1, MaxDeliverySec: 1 },
        { Domain: 'yahoo.com', Sent: 0, Failed: 5, Sending: 0, AvgDeliverySec: null, MinDeliverySec: null, MaxDeliverySec: null },
      ],
    });
  });

  it('clamps Limit to 1..1000', async () => {
    const one = await call('emailgateway.listrecipientdomains', { DomainID: A.domainId, Limit: 0, ...WINDOW });
    expect(one.Limit).toBe(1);
    expect(one.RecipientDomains.map((d: any) => d.Domain)).toEqual(['gmail.com']);
    expect((await call('emailgateway.listrecipientdomains', { DomainID: A.domainId, Limit: 5000 })).Limit).toBe(1000);
    expect((await call('emailgateway.listrecipientdomains', { DomainID: A.domainId, Limit: 'many' })).Limit).toBe(50);
  });

  it('answers 1 without DomainID and 2 for a domain not owned', async () => {
    expect(await call('emailgateway.listrecipientdomains', {})).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await call('emailgateway.listrecipientdomains', { DomainID: C.domainId })).toMatchObject({ Success: false, ErrorCode: 2 });
  });
});
