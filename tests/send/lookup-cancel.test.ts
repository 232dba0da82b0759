import crypto from 'node:crypto';
import { addDomain, Harness, senderSetup, uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { Sink, waitFor } from '../helpers/sink';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let rig: RelayRig;
let h: Harness;
let sink: Sink;

beforeAll(async () => {
  rig = await startRelayRig();
  ({ h, sink } = rig);
});
afterAll(async () => {
  await rig.close();
});

/** A second Enabled domain with its own sender key for an existing user. */
async function secondDomain(owner: Sender): Promise<Sender> {
  const domain = uniqueDomain('other');
  const domainId = await addDomain(h, owner.sessionId, domain);
  await h.services.db('sender_domains').where({ id: domainId }).update({ status: 'Enabled' });
  const k = await h.call({ Command: 'emailgateway.addapi', SessionID: owner.sessionId, DomainID: domainId, Description: 'second' });
  return { ...owner, domain, domainId, key: k.APIKey.APIKey, keyId: k.NewAPIKeyID };
}

const api = {
  get: (path: string, key: string) => h.request('GET', path, { headers: { Authorization: `Bearer ${key}` } }),
  del: (path: string, key: string) => h.request('DELETE', path, { headers: { Authorization: `Bearer ${key}` } }),
};

interface Opts {
  to?: string[];
  cc?: string[];
  tags?: string[];
  sendAt?: number;
  subject?: string;
}

async function send(s: Sender, o: Opts = {}): Promise<{ id: string; createdAt: string }> {
  const subject = o.subject ?? `Invoice ${crypto.randomBytes(4).toString('hex')}`;
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'Your invoice is attached.',
      From: { name: 'Billing', email: `billing@${s.domain}` },
      To: (o.to ?? [`someone.${crypto.randomBytes(3).toString('hex')}@recipient.test`]).map((email) => ({ name: '', email })),
      ...(o.cc ? { CC: o.cc.map((email) => ({ name: '', email })) } : {}),
      ...(o.tags ? { Tags: o.tags } : {}),
      ...(o.sendAt ? { SendAt: o.sendAt } : {}),
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  const row = await h.services.db('messages').where({ id: res.body.MessageID }).first('created_at');
  return { id: res.body.MessageID, createdAt: new Date(Number(row.created_at)).toISOString() };
}

const sec = (m: { createdAt: string }) => Math.floor(Date.parse(m.createdAt) / 1000);
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

async function statuses(messageId: string): Promise<string[]> {
  return h.services.db('deliveries').where({ message_id: messageId }).orderBy('id').pluck('status');
}

async function waitDelivered(messageId: string) {
  await waitFor(async () => (await statuses(messageId)).every((st) => st === 'delivered'), 15000, `${messageId} delivered`);
}

const notFound = { Errors: [{ Code: 4, Message: 'Message not found' }] };

describe('GET /api/v1/email/{MessageID}', () => {
  let a: Sender;
  let aOther: Sender;
  let b: Sender;
  beforeAll(async () => {
    a = await senderSetup(h);
    aOther = await secondDomain(a);
    b = await senderSetup(h);
  });

  it("answers code 4 (HTTP 200) for another domain's message, exactly as for an unknown id", async () => {
    const { id } = await send(b, { subject: 'Private to b' });
    const mine = await api.get(`/api/v1/email/${id}`, b.key);
    expect(mine.status).toBe(200);
    expect(mine.body.MessageID).toBe(id);

    const otherUser = await api.get(`/api/v1/email/${id}`, a.key);
    const sameUserOtherDomain = await api.get(`/api/v1/email/${id}`, aOther.key);
    const unknown = await api.get(`/api/v1/email/${crypto.randomUUID()}`, a.key);
    for (const r of [otherUser, sameUserOtherDomain, unknown]) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual(notFound);
    }
  });

  it('answers code 4 (HTTP 200) for a malformed id', async () => {
    for (const bad of ['not-a-uuid', 'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ', `${crypto.randomUUID()}0`, '1']) {
      const r = await api.get(`/api/v1/email/${bad}`, a.key);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(notFound);
    }
  });

  it("does not cancel another domain's message: DELETE answers code 4 (HTTP 200) and the message keeps going", async () => {
    const { id } = await send(b, { sendAt: inAMinute() });
    const r = await api.del(`/api/v1/email/${id}`, a.key);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(notFound);
    const r2 = await api.del(`/api/v1/email/${id}`, aOther.key);
    expect(r2.status).toBe(200);
    const bad = await api.del('/api/v1/email/not-a-uuid', a.key);
    expect(bad.status).toBe(200);
    expect(bad.body).toEqual(notFound);
    expect(await statuses(id)).toEqual(['scheduled']);
  });

  it('describes each recipient with its status and events', async () => {
    const { id, createdAt } = await send(a, { to: ['one@recipient.test'], cc: ['two@recipient.test'], tags: ['receipt'], subject: 'Receipt 42' });
    await waitDelivered(id);
    await waitFor(async () => (await h.services.db('events').where({ message_id: id, type: 'delivered' })).length === 2, 15_000, 'delivered events');
    const r = await api.get(`/api/v1/email/${id}`, a.key);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      MessageID: id,
      Status: 'delivered',
      From: `billing@${a.domain}`,
      Subject: 'Receipt 42',
      Tags: ['receipt'],
      CreatedAt: createdAt,
      SendAt: null,
    });
    expect(r.body.MessageIDHeader).toMatch(new RegExp(`@${a.domain.replace(/\./g, '\\.')}>$`));
    expect(r.body.Size).toBeGreaterThan(100);
    expect(r.body.Recipients.map((x: { Email: string; Type: string; Status: string; Attempts: number }) => [x.Email, x.Type, x.Status, x.Attempts])).toEqual([
      ['one@recipient.test', 'to', 'delivered', 1],
      ['two@recipient.test', 'cc', 'delivered', 1],
    ]);
    for (const x of r.body.Recipients) expect(x.Events.map((e: { Event: string }) => e.Event)).toEqual(['queued', 'delivered']);
  });
});

describe('GET /api/v1/emails', () => {
  let s: Sender;
  let older: { id: string; createdAt: string }[];
  let newer: { id: string; createdAt: string }[];
  let foreign: string[];
  let tOlder: number;
  let tNewer: number;

  beforeAll(async () => {
    s = await senderSetup(h);
    const sibling = await secondDomain(s);
    const stranger = await senderSetup(h);
    older = [
      await send(s, { to: ['Alice.Mixed@Recipient.test'], tags: ['alpha'], subject: 'm1' }),
      await send(s, { to: ['bob@recipient.test'], tags: ['beta'], subject: 'm2' }),
    ];
    tOlder = Math.max(...older.map(sec));
    // The second batch is created in a later second, so From/To (whole Unix seconds) can tell them apart.
    await waitFor(() => Math.floor(Date.now() / 1000) > tOlder, 10_000, 'the next second');
    newer = [
      await send(s, { to: ['carol@recipient.test'], tags: ['alpha', 'gamma'], sendAt: inAMinute(), subject: 'm3' }),
      await send(s, { to: ['dave@recipient.test'], subject: 'm4' }),
      await send(s, { to: ['erin@recipient.test'], cc: ['alice.mixed@recipient.test'], subject: 'm5' }),
    ];
    tNewer = Math.min(...newer.map(sec));
    expect(tNewer).toBeGreaterThan(tOlder);
    foreign = [
      (await send(sibling, { to: ['alice.mixed@recipient.test'], tags: ['alpha'] })).id,
      (await send(stranger, { to: ['alice.mixed@recipient.test'], tags: ['alpha'] })).id,
    ];
    for (const m of [older[0], older[1], newer[1], newer[2]]) await waitDelivered(m.id);
  });

  const list = (query: string) => api.get(`/api/v1/emails${query}`, s.key);
  const ids = (body: { Emails: { MessageID: string }[] }) => body.Emails.map((e) => e.MessageID);

  it("lists only the key's domain's messages, newest first, with their summary", async () => {
    const r = await list('');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ Total: 5, Page: 1, Pages: 1 });
    expect(r.body.Emails).toHaveLength(5);
    const got = ids(r.body);
    for (const f of foreign) expect(got).not.toContain(f);
    expect(new Set(got.slice(0, 3))).toEqual(new Set(newer.map((m) => m.id)));
    expect(new Set(got.slice(3))).toEqual(new Set(older.map((m) => m.id)));
    const m5 = r.body.Emails.find((e: { MessageID: string }) => e.MessageID === newer[2].id);
    expect(m5).toEqual({
      MessageID: newer[2].id,
      From: `billing@${s.domain}`,
      To: ['erin@recipient.test'],
      Cc: ['alice.mixed@recipient.test'],
      Bcc: [],
      Subject: 'm5',
      Tags: [],
      Status: 'delivered',
      CreatedAt: newer[2].createdAt,
    });
    const m3 = r.body.Emails.find((e: { MessageID: string }) => e.MessageID === newer[0].id);
    expect(m3).toMatchObject({ Status: 'scheduled', Tags: ['alpha', 'gamma'], To: ['carol@recipient.test'] });
  });

  it('pages with Limit and Page, reporting Total and Pages', async () => {
    const pages = [];
    for (const page of [1, 2, 3]) {
      const r = await list(`?Limit=2&Page=${page}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ Total: 5, Page: page, Pages: 3 });
      pages.push(ids(r.body));
    }
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const all = pages.flat();
    expect(new Set(all).size).toBe(5);
    expect(new Set(all)).toEqual(new Set([...older, ...newer].map((m) => m.id)));
    expect(new Set(all.slice(3))).toEqual(new Set(older.map((m) => m.id)));

    const beyond = await list('?Limit=2&Page=4');
    expect(beyond.status).toBe(200);
    expect(beyond.body).toEqual({ Emails: [], Total: 5, Page: 4, Pages: 3 });
  });

  it('filters by Status of any recipient', async () => {
    const scheduled = await list('?Status=scheduled');
    expect(scheduled.body).toMatchObject({ Total: 1, Pages: 1 });
    expect(ids(scheduled.body)).toEqual([newer[0].id]);
    const delivered = await list('?Status=delivered');
    expect(delivered.body.Total).toBe(4);
    expect(new Set(ids(delivered.body))).toEqual(new Set([older[0].id, older[1].id, newer[1].id, newer[2].id]));
    const bounced = await list('?Status=bounced');
    expect(bounced.body).toEqual({ Emails: [], Total: 0, Page: 1, Pages: 0 });
  });

  it('filters by Recipient, ignoring case, over To and CC recipients', async () => {
    const r = await list(`?Recipient=${encodeURIComponent('ALICE.mixed@recipient.TEST')}`);
    expect(r.status).toBe(200);
    expect(r.body.Total).toBe(2);
    expect(new Set(ids(r.body))).toEqual(new Set([older[0].id, newer[2].id]));
    const none = await list('?Recipient=alice@recipient.test');
    expect(none.body.Total).toBe(0);
  });

  it('filters by Tag, matching whole tags only', async () => {
    const alpha = await list('?Tag=alpha');
    expect(alpha.body.Total).toBe(2);
    expect(new Set(ids(alpha.body))).toEqual(new Set([older[0].id, newer[0].id]));
    const beta = await list('?Tag=beta');
    expect(ids(beta.body)).toEqual([older[1].id]);
    const partial = await list('?Tag=alp');
    expect(partial.body.Total).toBe(0);
  });

  it('filters by From and To, inclusive Unix times', async () => {
    const fromNewer = await list(`?From=${tNewer}`);
    expect(fromNewer.body.Total).toBe(3);
    expect(new Set(ids(fromNewer.body))).toEqual(new Set(newer.map((m) => m.id)));
    const toOlder = await list(`?To=${tOlder}`);
    expect(toOlder.body.Total).toBe(2);
    expect(new Set(ids(toOlder.body))).toEqual(new Set(older.map((m) => m.id)));
    const exactly = await list(`?From=${tOlder}&To=${tOlder}`);
    expect(new Set(ids(exactly.body))).toEqual(new Set([...older, ...newer].filter((m) => sec(m) === tOlder).map((m) => m.id)));
    const combined = await list(`?From=${tNewer}&Tag=alpha&Status=scheduled`);
    expect(ids(combined.body)).toEqual([newer[0].id]);
    const future = await list(`?From=${tNewer + 3600}`);
    expect(future.body.Total).toBe(0);
  });

  it('answers 400 code 3 for an invalid Limit, Page, Status or time', async () => {
    for (const q of ['?Limit=101', '?Limit=0', '?Page=0', '?Limit=abc', '?Status=sent', '?From=-1', '?To=yesterday']) {
      const r = await list(q);
      expect({ q, status: r.status, body: r.body }).toEqual({ q, status: 200, body: { Errors: [{ Code: 3, Message: 'Invalid filter or paging value' }] } });
    }
    const ok = await list('?Limit=100');
    expect(ok.status).toBe(200);
  });
});

describe('DELETE /api/v1/email/{MessageID}', () => {
  let s: Sender;
  beforeAll(async () => {
    s = await senderSetup(h);
  });

  it('cancels every recipient of a scheduled message, records cancelled events, and then answers code 5 (HTTP 200)', async () => {
    const { id } = await send(s, { to: ['x1@recipient.test', 'x2@recipient.test'], cc: ['x3@recipient.test'], sendAt: inAMinute(), subject: 'Never sent 1' });
    expect(await statuses(id)).toEqual(['scheduled', 'scheduled', 'scheduled']);

    const r = await api.del(`/api/v1/email/${id}`, s.key);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ MessageID: id, Cancelled: 3 });
    expect(await statuses(id)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const rows = await h.services.db('deliveries').where({ message_id: id });
    for (const d of rows) {
      expect(Number(d.finished_at)).toBeGreaterThan(0);
      expect(Number(d.lease_until)).toBe(0);
    }

    const got = await api.get(`/api/v1/email/${id}`, s.key);
    expect(got.body.Status).toBe('cancelled');
    for (const rec of got.body.Recipients) {
      expect(rec).toMatchObject({ Status: 'cancelled', Attempts: 0, NextAttemptAt: null });
      expect(rec.Events.map((e: { Event: string }) => e.Event)).toEqual(['scheduled', 'cancelled']);
      expect(rec.Events[1].Data).toEqual({ recipient: rec.Email });
    }

    const again = await api.del(`/api/v1/email/${id}`, s.key);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ Errors: [{ Code: 5, Message: 'Nothing to cancel: every recipient was already sent or finished' }] });
    expect(await h.services.db('events').where({ message_id: id, type: 'cancelled' })).toHaveLength(3);
  });

  it('answers code 5 (HTTP 200) for a message that was already delivered', async () => {
    const { id } = await send(s, { subject: 'Delivered already' });
    await waitDelivered(id);
    const r = await api.del(`/api/v1/email/${id}`, s.key);
    expect(r.status).toBe(200);
    expect(r.body.Errors[0].Code).toBe(5);
    expect(await statuses(id)).toEqual(['delivered']);
  });

  it('never sends a cancelled message once its SendAt passes, while an uncancelled twin goes out', async () => {
    const sendAt = Math.floor(Date.now() / 1000) + 2;
    const cancelled = await send(s, { to: ['gone-soon@recipient.test'], sendAt, subject: 'Cancelled twin' });
    const kept = await send(s, { to: ['kept@recipient.test'], sendAt, subject: 'Kept twin' });
    const r = await api.del(`/api/v1/email/${cancelled.id}`, s.key);
    expect(r.body).toEqual({ MessageID: cancelled.id, Cancelled: 1 });

    await waitDelivered(kept.id);
    expect(Date.now()).toBeGreaterThanOrEqual(sendAt * 1000 - 1000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await statuses(cancelled.id)).toEqual(['cancelled']);
    const subjects = sink.received.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
    expect(subjects).toContain('Kept twin');
    expect(subjects).not.toContain('Cancelled twin');
    expect(subjects).not.toContain('Never sent 1');
    const events = await h.services.db('events').where({ message_id: cancelled.id }).orderBy('id').pluck('type');
    expect(events).toEqual(['scheduled', 'cancelled']);
  });
});

describe('emailgateway.cleardomainqueue', () => {
  it("cancels every scheduled delivery of that domain only, leaving sent mail and other domains' queues alone", async () => {
    const s = await senderSetup(h);
    const sibling = await secondDomain(s);
    const stranger = await senderSetup(h);
    const q1 = await send(s, { to: ['q1a@recipient.test', 'q1b@recipient.test'], sendAt: inAMinute(), subject: 'Queue 1' });
    const q2 = await send(s, { to: ['q2@recipient.test'], sendAt: inAMinute(), subject: 'Queue 2' });
    const sent = await send(s, { to: ['sent@recipient.test'], subject: 'Sent before clearing' });
    await waitDelivered(sent.id);
    const siblingMsg = await send(sibling, { to: ['sib@recipient.test'], sendAt: inAMinute(), subject: 'Sibling queue' });
    const strangerMsg = await send(stranger, { to: ['str@recipient.test'], sendAt: inAMinute(), subject: 'Stranger queue' });

    const r = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: s.domainId });
    expect(r).toEqual({ Success: true, ErrorCode: 0, Cancelled: 3 });
    expect(await statuses(q1.id)).toEqual(['cancelled', 'cancelled']);
    expect(await statuses(q2.id)).toEqual(['cancelled']);
    expect(await statuses(sent.id)).toEqual(['delivered']);
    expect(await statuses(siblingMsg.id)).toEqual(['scheduled']);
    expect(await statuses(strangerMsg.id)).toEqual(['scheduled']);
    expect(await h.services.db('events').whereIn('message_id', [q1.id, q2.id]).where({ type: 'cancelled' })).toHaveLength(3);
    expect(await h.services.db('events').whereIn('message_id', [sent.id, siblingMsg.id, strangerMsg.id]).where({ type: 'cancelled' })).toHaveLength(0);

    const viaApi = await api.get(`/api/v1/email/${q1.id}`, s.key);
    expect(viaApi.body.Status).toBe('cancelled');

    const again = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: s.domainId });
    expect(again).toEqual({ Success: true, ErrorCode: 0, Cancelled: 0 });
  });

  it("answers [1] without DomainID and 2 for another user's domain, exactly as for a missing one, cancelling nothing", async () => {
    const s = await senderSetup(h);
    const other = await senderSetup(h);
    const theirs = await send(other, { sendAt: inAMinute(), subject: 'Not yours' });

    const missing = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId });
    expect(missing).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });

    const foreign = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: other.domainId });
    const unknown = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: 999999 });
    expect(foreign).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    expect(unknown).toEqual(foreign);
    const malformed = await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: s.sessionId, DomainID: 'abc' });
    expect(malformed).toMatchObject({ Success: false, ErrorCode: [2] });

    expect(await statuses(theirs.id)).toEqual(['scheduled']);
  });
});

describe('a message id in uppercase', () => {
  // Ids are lowercase UUIDs; their hex digits are case-insensitive, so the uppercased id names the same message. The
  // embedded store compares text case-sensitively: there, only lowercasing the id before the lookup finds it.
  let s: Sender;
  beforeAll(async () => {
    s = await senderSetup(h);
  });
  const timeline = (id: string) => h.call({ Command: 'emailgateway.getmessagetimeline', SessionID: s.sessionId, MessageID: id });
  const cancelQueued = (id: string) => h.call({ Command: 'emailgateway.cancelqueuedmessage', SessionID: s.sessionId, MessageID: id });

  it('emailgateway.getmessagetimeline answers it as the lowercase id', async () => {
    const { id } = await send(s, { to: ['t1@recipient.test', 't2@recipient.test'], sendAt: inAMinute(), subject: 'Timeline upper' });
    const lower = await timeline(id);
    expect(lower).toMatchObject({ Success: true, MessageID: id, Status: 'scheduled' });
    expect(await timeline(id.toUpperCase())).toEqual(lower);
    // Not a wildcard: another id in uppercase is still not found.
    expect(await timeline(crypto.randomUUID().toUpperCase())).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Message not found or access denied' });
  });

  it('emailgateway.cancelqueuedmessage cancels by it, answering with the lowercase id, then as the lowercase id does', async () => {
    const { id } = await send(s, { to: ['q1@recipient.test', 'q2@recipient.test'], sendAt: inAMinute(), subject: 'Cancel queued upper' });
    expect(await cancelQueued(id.toUpperCase())).toEqual({ Success: true, ErrorCode: 0, MessageID: id, Cancelled: 2 });
    expect(await statuses(id)).toEqual(['cancelled', 'cancelled']);
    const lower = await cancelQueued(id);
    expect(lower).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(await cancelQueued(id.toUpperCase())).toEqual(lower);
    expect(await cancelQueued(crypto.randomUUID().toUpperCase())).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Message not found or access denied' });
  });

  it('DELETE /api/v1/email/{MessageID} (emailgateway.cancelmessage) cancels by it, then answers as the lowercase id does', async () => {
    const { id } = await send(s, { sendAt: inAMinute(), subject: 'Delete upper' });
    const r = await api.del(`/api/v1/email/${id.toUpperCase()}`, s.key);
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: { MessageID: id, Cancelled: 1 } });
    expect(await statuses(id)).toEqual(['cancelled']);
    const lower = await api.del(`/api/v1/email/${id}`, s.key);
    expect(lower.body.Errors[0].Code).toBe(5);
    const upper = await api.del(`/api/v1/email/${id.toUpperCase()}`, s.key);
    expect({ status: upper.status, body: upper.body }).toEqual({ status: lower.status, body: lower.body });
    const other = await api.del(`/api/v1/email/${crypto.randomUUID().toUpperCase()}`, s.key);
    expect(other.body).toEqual(notFound);
  });
});
