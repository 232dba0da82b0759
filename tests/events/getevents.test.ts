import crypto from 'node:crypto';
import { recordEvents } from '../../src/events/record';
import { addDomain, createUser, Harness, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let rig: RelayRig;
let h: Harness;
let s: Sender;
const sent: { id: string; to: string; subject: string }[] = [];
const tag = crypto.randomBytes(3).toString('hex');

const getevents = (sessionId: string, params: Record<string, unknown> = {}) =>
  h.call({ Command: 'emailgateway.getevents', SessionID: sessionId, StartFrom: 0, RetrieveCount: 100, ...params });
const mine = (params: Record<string, unknown> = {}) => getevents(s.sessionId, { DomainID: s.domainId, ...params });
const codes = (r: { ErrorCode: number | number[] }) => ([] as number[]).concat(r.ErrorCode);

async function send(to: string, subject: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: 'Shop', email: `orders@${s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  sent.push({ id: res.body.MessageID, to, subject });
  return res.body.MessageID;
}

beforeAll(async () => {
  rig = await startRelayRig();
  ({ h, s } = rig);
  rig.sink.onRcpt = (address) => (address.startsWith('bounce') ? smtpError(550, '5.1.1 No such user here') : undefined);
  // Three messages through the real pipeline: two delivered, one bounced.
  await send(`alice.${tag}@one.test`, 'Order shipped axb');
  await send(`bob.${tag}@two.test`, 'Invoice 100% paid a_b');
  await send(`bounce.${tag}@one.test`, 'Welcome 1000 aboard');
  await waitFor(
    async () => {
      const n = await h.services.db('events').where({ domain_id: s.domainId }).whereIn('type', ['delivered', 'bounced']).count({ n: '*' });
      return Number(n[0].n) === 3;
    },
    20000,
    'two deliveries and a bounce',
  );
  // Opens and clicks come from the tracking endpoints; recorded here through the same writer.
  const now = Date.now();
  await recordEvents(h.services.db, [
    {
      message_id: sent[0].id,
      delivery_id: null,
      domain_id: s.domainId,
      user_id: s.userId,
      type: 'opened',
      created_at: now + 1000,
      data: { recipient: sent[0].to, user_agent: 'Mozilla/5.0 Thunderbird', ip: '203.0.113.7', machine: false, unique: true },
    },
    {
      message_id: sent[0].id,
      delivery_id: null,
      domain_id: s.domainId,
      user_id: s.userId,
      type: 'clicked',
      created_at: now + 2000,
      data: { recipient: sent[0].to, url: 'https://shop.test/track/parcel', user_agent: 'Mozilla/5.0', ip: '203.0.113.7', machine: false, unique: true },
    },
  ]);
}, 60000);
afterAll(async () => {
  await rig.close();
});

describe('emailgateway.getevents', () => {
  it('lists every event of the domain newest first in the contract shape, with the private vocabulary', async () => {
    const r = await mine();
    expect(r.Success).toBe(true);
    expect(r.ErrorCode).toBe(0);
    // 3 queued + 2 delivered + 1 bounced + 1 opened + 1 clicked
    expect(r.TotalRecords).toBe(8);
    expect(r.Events).toHaveLength(8);
    const times = r.Events.map((e: any) => e.timestamp);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(r.Events[0].event).toBe('click');
    expect(r.Events[1].event).toBe('open');
    expect(r.Events.map((e: any) => e.event).sort()).toEqual(['bounce', 'click', 'delivery', 'delivery', 'open', 'queued', 'queued', 'queued']);

    const delivery = r.Events.find((e: any) => e.event === 'delivery' && e.message_id === sent[1].id);
    expect(Number.isInteger(delivery.timestamp)).toBe(true);
    expect(Math.abs(delivery.timestamp - Date.now() / 1000)).toBeLessThan(120);
    expect(delivery.message).toEqual({ headers: { from: `orders@${s.domain}`, to: sent[1].to, subject: sent[1].subject } });
    expect(delivery.recipient).toBe(sent[1].to);
    expect(delivery.domain_id).toBe(s.domainId);
    expect(delivery.data.smtp_reply).toMatch(/^250/);
  });

  it('filters by Event in either vocabulary', async () => {
    const legacy = await mine({ Event: 'delivery' });
    const stored = await mine({ Event: 'delivered' });
    expect(legacy.TotalRecords).toBe(2);
    expect(stored.Events).toEqual(legacy.Events);
    expect(legacy.Events.map((e: any) => e.message.headers.to).sort()).toEqual([sent[0].to, sent[1].to].sort());

    const bounce = await mine({ Event: 'bounce' });
    expect(bounce.TotalRecords).toBe(1);
    expect(bounce.Events[0]).toMatchObject({ event: 'bounce', recipient: sent[2].to, data: { bounce_class: 'hard' } });
    expect(bounce.Events[0].data.smtp_reply).toMatch(/^550/);
    expect((await mine({ Event: 'rejected-by-mta' })).Events).toEqual(bounce.Events);

    const open = await mine({ Event: 'OPEN' });
    expect(open.Events.map((e: any) => [e.event, e.data.ip])).toEqual([['open', '203.0.113.7']]);
    const click = await mine({ Event: 'clicked' });
    expect(click.Events.map((e: any) => [e.event, e.data.url])).toEqual([['click', 'https://shop.test/track/parcel']]);
    expect((await mine({ Event: 'unsubscribe' })).TotalRecords).toBe(0);
  });

  it('matches Query as free text over recipient, subject, message id and SMTP reply, with % and _ taken literally', async () => {
    const ids = (r: any) => [...new Set(r.Events.map((e: any) => e.message_id))];
    expect(ids(await mine({ Query: 'invoice' }))).toEqual([sent[1].id]);
    expect((await mine({ Query: 'invoice' })).TotalRecords).toBe(2);
    expect(ids(await mine({ Query: '100%' }))).toEqual([sent[1].id]);
    expect(ids(await mine({ Query: 'a_b' }))).toEqual([sent[1].id]);
    expect(ids(await mine({ Query: `to:bounce.${tag}` }))).toEqual([sent[2].id]);
    const reply = await mine({ Query: 'reply:"5.1.1 no such"' });
    expect(reply.Events.map((e: any) => e.event)).toEqual(['bounce']);
    expect(ids(await mine({ Query: `id:${sent[0].id.slice(0, 13)}` }))).toEqual([sent[0].id]);
    expect((await mine({ Query: 'url:parcel' })).Events.map((e: any) => e.event)).toEqual(['click']);
    expect((await mine({ Query: 'ip:203.0.113.7 agent:thunderbird' })).Events.map((e: any) => e.event)).toEqual(['open']);
    // Every term must match.
    expect((await mine({ Query: 'invoice one.test' })).TotalRecords).toBe(0);
    expect((await mine({ Query: `order alice.${tag}` })).TotalRecords).toBe(4);
    expect((await mine({ Query: 'nothing-like-this' })).TotalRecords).toBe(0);
    // Query combines with Event.
    expect((await mine({ Query: 'one.test', Event: 'queued' })).TotalRecords).toBe(2);
  });

  it('pages with StartFrom and RetrieveCount without skipping or repeating', async () => {
    const all = (await mine()).Events.map((e: any) => e.id);
    const pages = [];
    for (const from of [0, 3, 6]) {
      const r = await mine({ StartFrom: from, RetrieveCount: 3 });
      expect(r.TotalRecords).toBe(8);
      pages.push(...r.Events.map((e: any) => e.id));
    }
    expect(pages).toEqual(all);
    expect(new Set(all).size).toBe(8);
    const beyond = await mine({ StartFrom: 50, RetrieveCount: 10 });
    expect(beyond).toMatchObject({ Success: true, TotalRecords: 8, Events: [] });
  });

  it('limits to StartDate/EndDate days in the user time zone, across a daylight-saving change', async () => {
    const u = await createUser(h, { TimeZone: 'America/New_York' });
    const domainId = await addDomain(h, u.sessionId, `tz.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const at = (iso: string, label: string) => ({
      message_id: crypto.randomUUID(),
      delivery_id: null,
      domain_id: domainId,
      user_id: u.userId,
      type: 'delivered',
      created_at: Date.parse(iso),
      data: { recipient: `${label}@tz.test` },
    });
    await recordEvents(h.services.db, [
      at('2025-03-09T04:59:59.999Z', 'before'), // 2025-03-08 23:59:59 EST
      at('2025-03-09T05:00:00.000Z', 'first'), // 2025-03-09 00:00:00 EST
      at('2025-03-10T03:59:59.999Z', 'last'), // 2025-03-09 23:59:59 EDT (clocks went forward that day)
      at('2025-03-10T04:00:00.000Z', 'after'), // 2025-03-10 00:00:00 EDT
    ]);
    const day = await getevents(u.sessionId, { DomainID: domainId, StartDate: '2025-03-09', EndDate: '2025-03-09' });
    expect(day.Events.map((e: any) => e.recipient)).toEqual(['last@tz.test', 'first@tz.test']);
    const from = await getevents(u.sessionId, { DomainID: domainId, StartDate: '2025-03-10' });
    expect(from.Events.map((e: any) => e.recipient)).toEqual(['after@tz.test']);
    const until = await getevents(u.sessionId, { DomainID: domainId, EndDate: '2025-03-08' });
    expect(until.Events.map((e: any) => e.recipient)).toEqual(['before@tz.test']);
    // An EndDate before StartDate is clamped to StartDate.
    const clamped = await getevents(u.sessionId, { DomainID: domainId, StartDate: '2025-03-09', EndDate: '2025-01-01' });
    expect(clamped.TotalRecords).toBe(2);
    // The same instants for a UTC user: the day is 00:00Z-23:59:59Z.
    const v = await createUser(h, { TimeZone: 'UTC' });
    const utcDomain = await addDomain(h, v.sessionId, `utc.${crypto.randomBytes(4).toString('hex')}.example.com`);
    await recordEvents(
      h.services.db,
      [at('2025-03-09T04:59:59.999Z', 'a'), at('2025-03-10T03:59:59.999Z', 'b')].map((e) => ({ ...e, domain_id: utcDomain, user_id: v.userId })),
    );
    const utc = await getevents(v.sessionId, { DomainID: utcDomain, StartDate: '2025-03-09', EndDate: '2025-03-09' });
    expect(utc.Events.map((e: any) => e.recipient)).toEqual(['a@tz.test']);
  });

  it('answers the last days of 9998 and 9999 as dates (the day after them answered HTTP 500)', async () => {
    const all = (await mine()).TotalRecords;
    for (const EndDate of ['9998-12-31', '9999-12-31']) {
      expect(await mine({ EndDate })).toMatchObject({ Success: true, ErrorCode: 0, TotalRecords: all });
      expect(await mine({ StartDate: EndDate, EndDate })).toMatchObject({ Success: true, ErrorCode: 0, TotalRecords: 0, Events: [] });
    }
  });

  it('spans all of the caller’s domains when DomainID is absent or 0', async () => {
    const u = await createUser(h);
    const d1 = await addDomain(h, u.sessionId, `one.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const d2 = await addDomain(h, u.sessionId, `two.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const ev = (domainId: number, recipient: string, ms: number) => ({
      message_id: crypto.randomUUID(),
      delivery_id: null,
      domain_id: domainId,
      user_id: u.userId,
      type: 'bounced',
      created_at: ms,
      data: { recipient, smtp_reply: '550 gone' },
    });
    const now = Date.now();
    await recordEvents(h.services.db, [ev(d1, 'x@d1.test', now - 3000), ev(d2, 'y@d2.test', now - 2000), ev(d1, 'z@d1.test', now - 1000)]);
    const all = await getevents(u.sessionId);
    expect(all.Events.map((e: any) => [e.recipient, e.domain_id])).toEqual([
      ['z@d1.test', d1],
      ['y@d2.test', d2],
      ['x@d1.test', d1],
    ]);
    expect((await getevents(u.sessionId, { DomainID: 0 })).TotalRecords).toBe(3);
    expect((await getevents(u.sessionId, { DomainID: d2 })).TotalRecords).toBe(1);
  });

  it("answers ErrorCode 2 for another user's DomainID and shows nothing of theirs", async () => {
    const other = await createUser(h);
    const r = await getevents(other.sessionId, { DomainID: s.domainId });
    expect(r).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(r.Events).toBeUndefined();
    expect(await getevents(other.sessionId)).toMatchObject({ Success: true, TotalRecords: 0, Events: [] });
    expect(await getevents(other.sessionId, { DomainID: 987654 })).toMatchObject({ Success: false, ErrorCode: 2 });
  });

  it('answers the contract codes for missing paging and its own code for a bad filter', async () => {
    expect(codes(await h.call({ Command: 'emailgateway.getevents', SessionID: s.sessionId, RetrieveCount: 10 }))).toEqual([4]);
    expect(codes(await h.call({ Command: 'emailgateway.getevents', SessionID: s.sessionId, StartFrom: 0 }))).toEqual([5]);
    expect(codes(await h.call({ Command: 'emailgateway.getevents', SessionID: s.sessionId }))).toEqual([4, 5]);
    expect(codes(await mine({ RetrieveCount: 101 }))).toEqual([5]);
    expect(codes(await mine({ StartFrom: -1 }))).toEqual([4]);
    expect(codes(await mine({ StartDate: '2025-02-30' }))).toEqual([6]);
    expect(codes(await mine({ EndDate: '09/03/2025' }))).toEqual([6]);
    expect(codes(await mine({ EndDate: '0100-01-15' }))).toEqual([6]);
    const unknown = await mine({ Event: 'exploded' });
    expect(unknown).toMatchObject({ Success: false, ErrorCode: 6 });
    expect(unknown.ErrorText).toMatch(/exploded/);
    expect(codes(await mine({ Query: 'a b c d e f g h i j k' }))).toEqual([6]);
    expect((await h.call({ Command: 'emailgateway.getevents', StartFrom: 0, RetrieveCount: 5 })).ErrorCode).toBe(99998);
  });
});

describe('GET /api/v1/events (emailgateway.getevents.public)', () => {
  const v1 = (key: string, query = '') => h.request('GET', `/api/v1/events${query}`, { headers: { Authorization: `Bearer ${key}` } });

  it('answers the key domain’s events, five by default, in the public shape', async () => {
    const res = await v1(s.key);
    expect(res.status).toBe(200);
    expect(res.body.Success).toBeUndefined();
    expect(res.body.TotalRecords).toBe(8);
    expect(res.body.Events).toHaveLength(5);
    const [click] = res.body.Events;
    expect(click).toMatchObject({
      Event: 'click',
      Message: { Headers: { From: `orders@${s.domain}`, To: sent[0].to, Subject: sent[0].subject } },
      MessageID: sent[0].id,
      Recipient: sent[0].to,
      Data: { url: 'https://shop.test/track/parcel' },
    });
    expect(Number.isInteger(click.LoggedAt)).toBe(true);
    const rest = await v1(s.key, '?StartFrom=5&RetrieveCount=100');
    expect(rest.body.Events).toHaveLength(3);
    expect(new Set([...res.body.Events, ...rest.body.Events].map((e: any) => e.EventID)).size).toBe(8);
  });

  it('filters by MessageID, by Event in either vocabulary and by Unix StartDate/EndDate', async () => {
    const byMessage = await v1(s.key, `?MessageID=${sent[2].id}&RetrieveCount=100`);
    expect(byMessage.body.Events.map((e: any) => e.Event).sort()).toEqual(['bounce', 'queued']);
    const a = await v1(s.key, '?Event=delivery&RetrieveCount=100');
    const b = await v1(s.key, '?Event=delivered&RetrieveCount=100');
    expect(a.body.TotalRecords).toBe(2);
    expect(b.body.Events).toEqual(a.body.Events);

    const click = (await v1(s.key, '?Event=click')).body.Events[0];
    const exact = await v1(s.key, `?StartDate=${click.LoggedAt}&EndDate=${click.LoggedAt}&RetrieveCount=100`);
    expect(exact.body.Events.map((e: any) => e.EventID)).toContain(click.EventID);
    expect(exact.body.Events.every((e: any) => e.LoggedAt === click.LoggedAt)).toBe(true);
    const later = await v1(s.key, `?StartDate=${click.LoggedAt + 1}`);
    expect(later.body).toEqual({ TotalRecords: 0, Events: [] });
    // GET with a JSON body, as the contract's example sends it.
    const body = await h.request('GET', '/api/v1/events', { headers: { Authorization: `Bearer ${s.key}` }, body: { Event: 'bounce', RetrieveCount: 50 } });
    expect(body.body.Events.map((e: any) => e.Recipient)).toEqual([sent[2].to]);
  });

  it('finds a message by its MessageID uppercased as by the lowercase one, at both doors', async () => {
    // Ids are lowercase UUIDs and a UUID's hex digits are case-insensitive: the uppercased id names the same message.
    const id = sent[2].id;
    const lower = await v1(s.key, `?MessageID=${id}&RetrieveCount=100`);
    expect(lower.body.TotalRecords).toBe(2);
    const upper = await v1(s.key, `?MessageID=${id.toUpperCase()}&RetrieveCount=100`);
    expect({ status: upper.status, body: upper.body }).toEqual({ status: 200, body: lower.body });
    // Not a wildcard: another id in uppercase finds nothing; an overlong one is still refused with 6.
    expect((await v1(s.key, `?MessageID=${crypto.randomUUID().toUpperCase()}`)).body).toEqual({ TotalRecords: 0, Events: [] });
    expect((await v1(s.key, `?MessageID=${id.toUpperCase()}${'F'.repeat(29)}`)).body.Errors[0].Code).toBe(6);
    const legacy = (MessageID: string) => h.call({ Command: 'emailgateway.getevents.public', SenderAPIKey: s.key, MessageID, RetrieveCount: 100 });
    const legacyLower = await legacy(id);
    expect(legacyLower).toMatchObject({ Success: true, TotalRecords: 2 });
    expect(await legacy(id.toUpperCase())).toEqual(legacyLower);
  });

  it('answers codes 1, 13, 5 and 6 in the Errors envelope, and nothing of another domain', async () => {
    const none = await h.request('GET', '/api/v1/events');
    expect(none.body.Errors[0].Code).toBe(1);
    const bad = await v1('not-a-key');
    expect(bad.body.Errors[0].Code).toBe(13);
    expect((await v1(s.key, '?RetrieveCount=101')).body.Errors[0].Code).toBe(5);
    expect((await v1(s.key, '?StartDate=yesterday')).body.Errors[0].Code).toBe(6);
    expect((await v1(s.key, '?Event=exploded')).body.Errors[0].Code).toBe(6);
    const other = await senderSetup(h);
    expect((await v1(other.key)).body).toEqual({ TotalRecords: 0, Events: [] });
    expect((await v1(other.key, `?MessageID=${sent[0].id}`)).body).toEqual({ TotalRecords: 0, Events: [] });
  });

  it('is also the legacy command emailgateway.getevents.public', async () => {
    const r = await h.call({ Command: 'emailgateway.getevents.public', SenderAPIKey: s.key, Event: 'open' });
    expect(r).toMatchObject({ Success: true, TotalRecords: 1 });
    expect(r.Events[0].Event).toBe('open');
  });
});
