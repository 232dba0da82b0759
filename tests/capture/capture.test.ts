/**
 * DELIVERY_MODE=capture end to end: a message sent through /api/v1/email goes through the worker (tracking,
 * personalization, DKIM, VERP), is kept instead of sent, is recorded delivered with a reply that says so, and is
 * listed and fetched (parsed and raw) through the v1 routes and /api.php, only by its owner.
 */
import crypto from 'node:crypto';
import { simpleParser } from 'mailparser';
import supertest from 'supertest';
import { CaptureStore } from '../../src/capture/store';
import { dkimVerdict, publishedDkim } from '../helpers/dkim';
import { createUser, Harness, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

const TRACK = 'http://track.postern.test';
let rig: RelayRig;
let h: Harness;
let s: RelayRig['s'];

beforeAll(async () => {
  // The rig's relay sink stays configured (SMTP_RELAY_URL) only to prove that capture mode never uses it.
  rig = await startRelayRig({ DELIVERY_MODE: 'capture', TRACKING_BASE_URL: TRACK, CAPTURE_MAX_MESSAGES: '4' });
  ({ h, s } = rig);
});
afterAll(async () => {
  await rig.close();
});

const v1 = (path: string, key = s.key) => supertest(h.app).get(path).set('Authorization', `Bearer ${key}`);

async function sendAndSettle(to: string[], subject = 'Your receipt'): Promise<string> {
  const res = await supertest(h.app)
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${s.key}`)
    .send({
      Subject: subject,
      ContentType: 'html',
      HTMLContent: '<p>Hello {{ Subscriber:EmailAddress }}, <a href="https://shop.example/order/7">your order</a>.</p>',
      PlainContent: 'Hello {{ Subscriber:EmailAddress }}',
      From: { name: 'Shop', email: `shop@${s.domain}` },
      To: to.map((email) => ({ name: '', email })),
      TrackOpens: true,
      TrackLinks: true,
    });
  expect(res.status).toBe(200);
  const id = res.body.MessageID as string;
  await waitFor(
    async () => (await h.services.db('deliveries').where({ message_id: id })).every((d: { status: string }) => d.status === 'delivered'),
    15000,
    'captured deliveries',
  );
  return id;
}

describe('capture mode', () => {
  let messageId: string;
  let list: { CapturedID: number; RcptTo: string; MailFrom: string; MessageID: string; Subject: string }[];

  beforeAll(async () => {
    messageId = await sendAndSettle(['jane@recipient.test', 'carl@recipient.test']);
    const res = await v1(`/api/v1/captured?messageid=${messageId}`);
    expect(res.status).toBe(200);
    list = res.body.CapturedMessages;
  });

  it('records each delivery delivered with a reply naming its capture, and sends nothing', async () => {
    const events = await h.services.db('events').where({ message_id: messageId, type: 'delivered' });
    expect(events).toHaveLength(2);
    // The reply is in each `delivered` event (a first attempt's row keeps none: its settle is in place).
    for (const e of events) expect(JSON.parse(e.data).smtp_reply).toMatch(/^250 2\.0\.0 Ok: captured as \d+ \(DELIVERY_MODE=capture: kept, not sent\)$/);
    expect(JSON.parse(events[0].data).smtp_reply).toContain('captured as');
    const lookup = await v1(`/api/v1/email/${messageId}`);
    expect(lookup.body.Status).toBe('delivered');
    expect(rig.sink.received).toHaveLength(0);
  });

  it('lists one capture per recipient with its VERP envelope', () => {
    expect(list.map((c) => c.RcptTo).sort()).toEqual(['carl@recipient.test', 'jane@recipient.test']);
    for (const c of list) {
      expect(c).toMatchObject({ MessageID: messageId, Subject: 'Your receipt' });
      expect(c.MailFrom).toMatch(new RegExp(`^b-\\d+-[a-z0-9]{10}@sl\\.${s.domain.replace(/\./g, '\\.')}$`));
    }
  });

  it('returns the raw MIME as message/rfc822: DKIM-verified, personalised and tracked for its recipient', async () => {
    const jane = list.find((c) => c.RcptTo === 'jane@recipient.test')!;
    const res = await v1(`/api/v1/captured/${jane.CapturedID}?format=raw`)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^message\/rfc822/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const raw = res.body as Buffer;
    const verdict = await dkimVerdict(raw, s.domain, await publishedDkim(h, s.sessionId, s.domainId));
    expect(verdict).toEqual({ result: 'pass', signingDomain: s.domain });
    const html = String((await simpleParser(raw)).html);
    expect(html).toContain('Hello jane@recipient.test');
    expect(html).toContain(`${TRACK}/t/c/`);
    expect(html).toContain(`${TRACK}/t/o/`);
    expect(html).not.toContain('https://shop.example/order/7');
  });

  it('returns it parsed, with the personalised body and its DKIM signature named', async () => {
    const carl = list.find((c) => c.RcptTo === 'carl@recipient.test')!;
    const res = await v1(`/api/v1/captured/${carl.CapturedID}`);
    expect(res.status).toBe(200);
    const parsed = res.body.CapturedMessage.Parsed;
    expect(parsed).toMatchObject({ From: `Shop <shop@${s.domain}>`, Subject: 'Your receipt', DKIMSignatures: [{ Domain: s.domain, Selector: 'key1' }] });
    expect(parsed.To).toEqual(expect.arrayContaining(['jane@recipient.test', 'carl@recipient.test']));
    expect(parsed.Text).toContain('Hello carl@recipient.test');
    expect(parsed.HTML).toContain('Hello carl@recipient.test');
    expect(parsed.Headers.map((x: { Name: string }) => x.Name.toLowerCase())).toContain('dkim-signature');
  });

  it('serves the same through /api.php for the owner (SessionID), raw and parsed', async () => {
    const all = await h.call({ Command: 'emailgateway.getcapturedmessages', SessionID: s.sessionId, DomainID: s.domainId, MessageID: messageId });
    expect(all).toMatchObject({ Success: true, TotalRecords: 2 });
    const one = await h.call({ Command: 'emailgateway.getcapturedmessage', SessionID: s.sessionId, CapturedID: list[0].CapturedID, Format: 'raw' });
    expect(one.Success).toBe(true);
    const viaV1 = await v1(`/api/v1/captured/${list[0].CapturedID}?format=raw`);
    expect(one.RawMIME).toBe(viaV1.text);
  });

  it("never shows a capture to another account or another domain's key", async () => {
    const other = await senderSetup(h);
    expect((await v1(`/api/v1/captured/${list[0].CapturedID}`, other.key)).status).toBe(404);
    expect((await v1('/api/v1/captured', other.key)).body).toEqual({ TotalRecords: 0, CapturedMessages: [] });
    expect(await h.call({ Command: 'emailgateway.getcapturedmessage', SessionID: other.sessionId, CapturedID: list[0].CapturedID })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
    expect(await h.call({ Command: 'emailgateway.getcapturedmessages', SessionID: other.sessionId, DomainID: s.domainId })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
    const stranger = await createUser(h);
    expect(await h.call({ Command: 'emailgateway.getcapturedmessages', SessionID: stranger.sessionId })).toMatchObject({ Success: true, TotalRecords: 0 });
  });

  it('finds the captures by an uppercased MessageID as by the lowercase one, at both doors', async () => {
    // Ids are lowercase UUIDs and a UUID's hex digits are case-insensitive: the uppercased id names the same message.
    const listed = (id: string) => h.request('GET', '/api/v1/captured', { headers: { Authorization: `Bearer ${s.key}` }, query: { MessageID: id } });
    const lower = await listed(messageId);
    expect({ status: lower.status, total: lower.body.TotalRecords }).toEqual({ status: 200, total: 2 });
    const upper = await listed(messageId.toUpperCase());
    expect({ status: upper.status, body: upper.body }).toEqual({ status: 200, body: lower.body });
    // Not a wildcard: another id in uppercase finds nothing; a malformed one is still refused with 3.
    expect((await listed(crypto.randomUUID().toUpperCase())).body).toEqual({ TotalRecords: 0, CapturedMessages: [] });
    expect((await listed(`${messageId.toUpperCase().slice(0, 35)}G`)).body.Errors[0].Code).toBe(3);

    const session = (id: string) => h.call({ Command: 'emailgateway.getcapturedmessages', SessionID: s.sessionId, MessageID: id });
    const lowerSession = await session(messageId);
    expect(lowerSession).toMatchObject({ Success: true, TotalRecords: 2 });
    expect(await session(messageId.toUpperCase())).toEqual(lowerSession);
    expect(await session(crypto.randomUUID().toUpperCase())).toMatchObject({ Success: true, TotalRecords: 0, CapturedMessages: [] });
    expect(await session(`${messageId.toUpperCase().slice(0, 35)}G`)).toMatchObject({ Success: false, ErrorCode: [3] });
  });

  it('answers bad input with the command codes', async () => {
    const bad = await v1(`/api/v1/captured/${list[0].CapturedID}?format=eml`);
    expect(bad.status).toBe(200); // business errors on the v1 routes answer HTTP 200, as upstream (D1)
    expect(bad.body.Errors[0].Code).toBe(3);
    expect((await v1('/api/v1/captured/abc')).status).toBe(404);
    expect((await v1('/api/v1/captured?retrievecount=500')).body.Errors[0].Code).toBe(3);
    expect(await h.call({ Command: 'emailgateway.getcapturedmessage', SessionID: s.sessionId })).toMatchObject({ Success: false, ErrorCode: [1] });
    const anonymous = await supertest(h.app).get('/api/v1/captured');
    expect([anonymous.status, anonymous.body.Errors[0].Code]).toEqual([200, 1]); // Missing SenderAPIKey
  });
});

describe('capture caps (CAPTURE_MAX_MESSAGES=4, CAPTURE_MAX_AGE_SECONDS)', () => {
  it('keeps the newest by count, and an expired capture is gone from lists at once and from the table at the next prune', async () => {
    for (let i = 0; i < 3; i++) await sendAndSettle([`r${i}@recipient.test`], `Capped ${i}`);
    const store = new CaptureStore(h.services.db, h.services.config, h.services.logger);
    await store.prune();
    const res = await v1('/api/v1/captured');
    expect(res.body.TotalRecords).toBe(4);
    expect(res.body.CapturedMessages.map((c: { Subject: string }) => c.Subject)).toEqual(['Capped 2', 'Capped 1', 'Capped 0', 'Your receipt']);

    const oldest = res.body.CapturedMessages[3].CapturedID;
    await h.services
      .db('captured_messages')
      .where({ id: oldest })
      .update({ created_at: Date.now() - h.services.config.captureMaxAgeSeconds * 1000 - 1000 });
    expect((await v1('/api/v1/captured')).body.TotalRecords).toBe(3);
    expect((await v1(`/api/v1/captured/${oldest}`)).status).toBe(404);
    expect(await store.prune()).toBe(1);
    expect(await h.services.db('captured_messages').where({ id: oldest }).first()).toBeUndefined();
  });
});
