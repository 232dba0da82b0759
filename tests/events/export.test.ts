import crypto from 'node:crypto';
import supertest from 'supertest';
import { EventInput, recordEvents } from '../../src/events/record';
import { addDomain, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';
import { parseCsv } from './csv';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const DAY = 86_400_000;
const HEADER = ['Time', 'Event', 'MessageID', 'From', 'To', 'Subject', 'Domain', 'SMTPCode'];
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function binary(res: any, cb: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
}

/** GET /api.php?Command=emailgateway.exportevents&… as a browser download link would. */
async function exportGet(sessionId: string, params: Record<string, string | number> = {}) {
  const query = new URLSearchParams({
    Command: 'emailgateway.exportevents',
    SessionID: sessionId,
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
  });
  const res = await supertest(h.app).get(`/api.php?${query}`).buffer(true).parse(binary);
  const body = res.body as Buffer;
  const text = body.toString('utf8');
  return { res, body, rows: res.headers['content-type']?.startsWith('text/csv') ? parseCsv(text.replace(/^\uFEFF/, '')) : [], text };
}

function ev(s: { domainId: number; userId: number }, messageId: string, type: string, at: number, data: Record<string, unknown>): EventInput {
  return { message_id: messageId, delivery_id: null, domain_id: s.domainId, user_id: s.userId, type, created_at: at, data };
}

describe('emailgateway.exportevents', () => {
  let s: Sender;
  let messageId: string;
  const now = Date.now();

  beforeAll(async () => {
    s = await senderSetup(h);
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: '=HYPERLINK("http://evil.test","Open")',
        ContentType: 'plain',
        PlainContent: 'Hi',
        From: { name: '', email: `shop@${s.domain}` },
        To: [{ name: 'Ann', email: 'ann@x.test' }],
      },
    });
    if (res.status !== 200) throw new Error(JSON.stringify(res.body));
    messageId = res.body.MessageID;
    const other = crypto.randomUUID();
    await recordEvents(h.services.db, [
      ev(s, messageId, 'delivered', now - 5000, { recipient: 'ann@x.test', smtp_reply: '250 2.0.0 Ok: queued as 123' }),
      ev(s, messageId, 'bounced', now - 4000, {
        recipient: 'ann@x.test',
        smtp_reply: '550 5.1.1 <ann@x.test>: Recipient address rejected',
        bounce_class: 'hard',
      }),
      ev(s, other, 'opened', now - 3000, { recipient: '+plus@x.test' }),
      ev(s, other, 'opened', now - 2000, { recipient: '-minus@x.test' }),
      ev(s, other, 'clicked', now - 1000, { recipient: '@at@x.test', url: 'https://x.test' }),
      ev(s, other, 'clicked', now - 900, { recipient: '\ttab@x.test' }),
      ev(s, other, 'clicked', now - 800, { recipient: '\rcr@x.test' }),
      ev(s, other, 'complained', now - 40 * DAY, { recipient: 'old@x.test' }),
    ]);
  });

  it('streams a CSV download with the notes’ headers, BOM, columns and newest rows first', async () => {
    const { res, body, rows } = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'delivered' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const today = new Date().toISOString().slice(0, 10);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="transactional-events-${today}.csv"`);
    expect(res.headers['x-octeth-export-total']).toBe('1');
    expect(res.headers['x-octeth-export-truncated']).toBeUndefined();
    expect(res.headers['x-octeth-export-limit']).toBeUndefined();
    expect([...body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(rows[0]).toEqual(HEADER);
    expect(rows.slice(1)).toEqual([
      [iso(now - 5000), 'delivered', messageId, `shop@${s.domain}`, 'ann@x.test', `'=HYPERLINK("http://evil.test","Open")`, s.domain, '250'],
    ]);
  });

  it('prefixes formula-like cells with a quote and gives the SMTP code of bounces', async () => {
    const { res, rows } = await exportGet(s.sessionId, { DomainID: s.domainId });
    expect(res.headers['x-octeth-export-total']).toBe('8');
    expect(rows).toHaveLength(9);
    expect(rows.slice(1).map((r) => [r[1], r[4]])).toEqual([
      ['queued', 'ann@x.test'], // the send itself, after the seeded events
      ['clicked', "'\rcr@x.test"],
      ['clicked', "'\ttab@x.test"],
      ['clicked', "'@at@x.test"],
      ['opened', "'-minus@x.test"],
      ['opened', "'+plus@x.test"],
      ['bounced', 'ann@x.test'],
      ['delivered', 'ann@x.test'],
    ]);
    const bounce = rows.find((r) => r[1] === 'bounced')!;
    expect(bounce[7]).toBe('550');
    expect(bounce[5]).toBe(`'=HYPERLINK("http://evil.test","Open")`);
    // Events of messages that no longer exist still export, with empty From and Subject.
    expect(rows.find((r) => r[1] === 'opened')!.slice(3, 7)).toEqual(['', "'-minus@x.test", '', s.domain]);
  });

  it('filters by Event in either vocabulary, by Query, and by MessageID (which overrides Query)', async () => {
    const bounce = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'bounce' });
    expect(bounce.rows.slice(1).map((r) => r[1])).toEqual(['bounced']);
    const clicks = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'click' });
    expect(clicks.rows).toHaveLength(4);
    const query = await exportGet(s.sessionId, { DomainID: s.domainId, Query: 'reply:"recipient address rejected"' });
    expect(query.rows.slice(1).map((r) => r[1])).toEqual(['bounced']);
    const byId = await exportGet(s.sessionId, { DomainID: s.domainId, MessageID: messageId, Query: 'matches-nothing' });
    expect(byId.res.headers['x-octeth-export-total']).toBe('3'); // queued (the send) + delivered + bounced
    expect(byId.rows.slice(1).map((r) => r[1])).toEqual(['queued', 'bounced', 'delivered']);
  });

  it('exports by MessageID uppercased as by the lowercase one', async () => {
    // Ids are lowercase UUIDs and a UUID's hex digits are case-insensitive: the uppercased id names the same message.
    const exported = (MessageID: string) =>
      h.request('GET', '/api.php', { query: { Command: 'emailgateway.exportevents', SessionID: s.sessionId, DomainID: s.domainId, MessageID } });
    const lower = await exported(messageId);
    expect([lower.status, lower.headers['x-octeth-export-total']]).toEqual([200, '3']);
    const upper = await exported(messageId.toUpperCase());
    expect([upper.status, upper.headers['x-octeth-export-total'], upper.text]).toEqual([200, '3', lower.text]);
    // Not a wildcard: another id in uppercase exports nothing.
    const other = await exported(crypto.randomUUID().toUpperCase());
    expect([other.headers['x-octeth-export-total'], parseCsv(other.text.replace(/^\uFEFF/, ''))]).toEqual(['0', [HEADER]]);
  });

  it('defaults to the last 30 days; StartDate/EndDate widen it and invalid dates fall back', async () => {
    const older = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'complained' });
    expect(older.res.headers['x-octeth-export-total']).toBe('0');
    expect(older.rows).toEqual([HEADER]);
    const day = new Date(now - 40 * DAY).toISOString().slice(0, 10);
    const wide = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'complained', StartDate: day, EndDate: day });
    expect(wide.rows.slice(1).map((r) => r[4])).toEqual(['old@x.test']);
    const invalid = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'complained', StartDate: 'x', EndDate: '2025-13-01' });
    expect(invalid.res.headers['x-octeth-export-total']).toBe('0');
    // At the ends of the calendar (the day after 9998-12-31, and a default start in year 99, answered HTTP 500).
    const edges: Record<string, string>[] = [
      { EndDate: '9998-12-31' },
      { StartDate: '9999-12-31', EndDate: '9999-12-31' },
      { EndDate: '0100-01-15' },
      { EndDate: '1000-01-15' },
    ];
    for (const dates of edges) {
      const edge = await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'complained', ...dates });
      expect([edge.res.status, edge.res.headers['x-octeth-export-total']]).toEqual([200, '0']);
    }
  });

  it("answers the JSON envelope with ErrorCode 2 for another user's domain, and exports all domains without DomainID", async () => {
    const other = await createUser(h);
    const denied = await exportGet(other.sessionId, { DomainID: s.domainId });
    expect(denied.res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(denied.text)).toMatchObject({ Success: false, ErrorCode: 2 });
    const otherDomain = await addDomain(h, other.sessionId, `o.${crypto.randomBytes(4).toString('hex')}.example.com`);
    await recordEvents(h.services.db, [
      ev({ domainId: otherDomain, userId: other.userId }, crypto.randomUUID(), 'delivered', now, { recipient: 'theirs@x.test' }),
    ]);
    const mineAll = await exportGet(s.sessionId);
    expect(mineAll.rows.slice(1).map((r) => r[4])).not.toContain('theirs@x.test');
    expect(mineAll.rows).toHaveLength(9); // 7 seeded in the window + the queued event of the send, + header
    const theirs = await exportGet(other.sessionId, { DomainID: 0 });
    expect(theirs.rows.slice(1).map((r) => [r[4], r[6]])).toEqual([['theirs@x.test', expect.stringMatching(/^o\./)]]);
    expect((await exportGet(s.sessionId, { DomainID: s.domainId, Event: 'exploded' })).res.headers['content-type']).toMatch(/^application\/json/);
  });

  it('also answers a POST with a JSON body', async () => {
    const res = await supertest(h.app)
      .post('/api.php')
      .send({ Command: 'emailgateway.exportevents', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery' })
      .buffer(true)
      .parse(binary);
    expect(res.status).toBe(200);
    const rows = parseCsv((res.body as Buffer).toString('utf8').replace(/^\uFEFF/, ''));
    expect(rows.slice(1).map((r) => r[1])).toEqual(['delivered']);
  });

  it('stops at 10,000 rows, newest first without gaps or repeats, and says so in the headers', async () => {
    const u = await createUser(h);
    const domainId = await addDomain(h, u.sessionId, `bulk.${crypto.randomBytes(4).toString('hex')}.example.com`);
    const base = Date.now() - 3_600_000;
    const total = 10_001;
    const rows: EventInput[] = [];
    // Seven events share each millisecond, so paging must break ties by id.
    for (let i = 0; i < total; i++) {
      rows.push({
        message_id: `m-${i}`,
        delivery_id: null,
        domain_id: domainId,
        user_id: u.userId,
        type: 'delivered',
        created_at: base + Math.floor(i / 7),
        data: { recipient: `r${i}@bulk.test`, seconds: 1 },
      });
    }
    // Through the real writer, so the rollups the total is read from hold them too.
    for (let i = 0; i < rows.length; i += 500) await recordEvents(h.services.db, rows.slice(i, i + 500));
    const out = await exportGet(u.sessionId, { DomainID: domainId });
    expect(out.res.headers['x-octeth-export-total']).toBe('10001');
    expect(out.res.headers['x-octeth-export-truncated']).toBe('1');
    expect(out.res.headers['x-octeth-export-limit']).toBe('10000');
    expect(out.rows[0]).toEqual(HEADER);
    expect(out.rows).toHaveLength(10_001);
    const expected = Array.from({ length: 10_000 }, (_, k) => `m-${total - 1 - k}`);
    expect(out.rows.slice(1).map((r) => r[2])).toEqual(expected);
  }, 60000);
});
