import crypto from 'node:crypto';
import { Harness, senderSetup } from '../helpers/harness';
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

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const addr = (label: string) => `${label}.${crypto.randomBytes(4).toString('hex')}@recipient.test`;

const cmd = (command: string, s: Sender, params: Record<string, unknown> = {}) =>
  h.call({ Command: `emailgateway.${command}`, SessionID: s.sessionId, DomainID: s.domainId, ...params });

const v1 = {
  get: (s: Sender, query = '') => h.request('GET', `/api/v1/suppressions${query}`, { headers: { Authorization: `Bearer ${s.key}` } }),
  post: (s: Sender, body: Record<string, unknown>) => h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` }, body }),
  del: (s: Sender, body: Record<string, unknown>) => h.request('DELETE', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` }, body }),
};

function send(s: Sender, to: string[], subject: string) {
  return h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: 'News', email: `news@${s.domain}` },
      To: to.map((email) => ({ name: '', email })),
    },
  });
}

describe('emailgateway.getsuppressions / addsuppression / deletesuppression', () => {
  let s: Sender;
  beforeAll(async () => {
    s = await senderSetup(h);
  });

  it('adds an address lowercased with reason manual and lists it with every field', async () => {
    const empty = await cmd('getsuppressions', s);
    expect(empty).toEqual({ Success: true, ErrorCode: 0, TotalRecords: 0, Suppressions: [] });

    const added = await cmd('addsuppression', s, { EmailAddress: '  Someone.Upper@Example.ORG ', Detail: 'asked by phone' });
    expect(added).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(added.Suppression).toEqual({
      SuppressionID: expect.any(Number),
      EmailAddress: 'someone.upper@example.org',
      Reason: 'manual',
      Detail: 'asked by phone',
      CreatedAt: expect.stringMatching(TIME),
    });

    const noDetail = await cmd('addsuppression', s, { EmailAddress: 'plain@example.org' });
    expect(noDetail.Suppression).toMatchObject({ EmailAddress: 'plain@example.org', Reason: 'manual', Detail: 'added through the API' });

    const list = await cmd('getsuppressions', s);
    expect(list).toEqual({
      Success: true,
      ErrorCode: 0,
      TotalRecords: 2,
      Suppressions: [noDetail.Suppression, added.Suppression],
    });
  });

  it('keeps one row when the same address is added twice, whatever its case, and the first reason and detail stay', async () => {
    const u = await senderSetup(h);
    const first = await cmd('addsuppression', u, { EmailAddress: 'twice@example.org', Detail: 'first' });
    const second = await cmd('addsuppression', u, { EmailAddress: 'TWICE@example.org', Detail: 'second' });
    expect(second).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(second.Suppression).toEqual(first.Suppression);
    const list = await cmd('getsuppressions', u);
    expect(list.TotalRecords).toBe(1);
    expect(list.Suppressions).toEqual([first.Suppression]);
    expect(await h.services.db('suppressions').where({ domain_id: u.domainId })).toHaveLength(1);
  });

  it('deletes an address in any case and answers 5 once it is no longer listed', async () => {
    const u = await senderSetup(h);
    await cmd('addsuppression', u, { EmailAddress: 'leaving@example.org' });
    const del = await cmd('deletesuppression', u, { EmailAddress: 'Leaving@Example.org' });
    expect(del).toEqual({ Success: true, ErrorCode: 0 });
    expect((await cmd('getsuppressions', u)).TotalRecords).toBe(0);
    const again = await cmd('deletesuppression', u, { EmailAddress: 'leaving@example.org' });
    expect(again).toEqual({ Success: false, ErrorCode: 5, ErrorText: 'Email address is not on the suppression list' });
  });

  it('pages newest first with StartFrom and RetrieveCount and filters by Query and Reason', async () => {
    const u = await senderSetup(h);
    const emails = ['p1@alpha.example', 'p2@alpha.example', 'p3@beta.example', 'p4@beta.example', 'p5_x@beta.example'];
    for (const e of emails) await cmd('addsuppression', u, { EmailAddress: e });
    await h.services
      .db('suppressions')
      .insert({ domain_id: u.domainId, email: 'bounced@gamma.example', reason: 'hard_bounce', detail: '550 5.1.1 user unknown', created_at: Date.now() });

    const page1 = await cmd('getsuppressions', u, { StartFrom: 0, RetrieveCount: 2 });
    expect(page1.TotalRecords).toBe(6);
    expect(page1.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['bounced@gamma.example', 'p5_x@beta.example']);
    const page2 = await cmd('getsuppressions', u, { StartFrom: 2, RetrieveCount: 2 });
    expect(page2.TotalRecords).toBe(6);
    expect(page2.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['p4@beta.example', 'p3@beta.example']);
    const last = await cmd('getsuppressions', u, { StartFrom: 5, RetrieveCount: 100 });
    expect(last.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['p1@alpha.example']);

    const alpha = await cmd('getsuppressions', u, { Query: 'ALPHA' });
    expect(alpha.TotalRecords).toBe(2);
    // _ is a literal character in Query, not a LIKE wildcard.
    const underscore = await cmd('getsuppressions', u, { Query: '5_x' });
    expect(underscore.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['p5_x@beta.example']);
    const noWildcard = await cmd('getsuppressions', u, { Query: 'p_@' });
    expect(noWildcard.TotalRecords).toBe(0);

    const bounced = await cmd('getsuppressions', u, { Reason: 'hard_bounce' });
    expect(bounced.TotalRecords).toBe(1);
    expect(bounced.Suppressions[0]).toMatchObject({ EmailAddress: 'bounced@gamma.example', Reason: 'hard_bounce', Detail: '550 5.1.1 user unknown' });
    const manualBeta = await cmd('getsuppressions', u, { Reason: 'manual', Query: 'beta' });
    expect(manualBeta.TotalRecords).toBe(3);
  });

  describe('error codes', () => {
    let other: Sender;
    beforeAll(async () => {
      other = await senderSetup(h);
      await cmd('addsuppression', other, { EmailAddress: 'theirs@example.org' });
    });

    it('answers [1] without DomainID', async () => {
      for (const c of ['getsuppressions', 'addsuppression', 'deletesuppression']) {
        const r = await h.call({ Command: `emailgateway.${c}`, SessionID: s.sessionId, EmailAddress: 'x@example.org' });
        expect({ c, r }).toEqual({ c, r: { Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] } });
      }
    });

    it("answers 2 for another user's domain, exactly as for a missing one, and touches nothing", async () => {
      for (const c of ['getsuppressions', 'addsuppression', 'deletesuppression']) {
        const foreign = await h.call({ Command: `emailgateway.${c}`, SessionID: s.sessionId, DomainID: other.domainId, EmailAddress: 'theirs@example.org' });
        const missing = await h.call({ Command: `emailgateway.${c}`, SessionID: s.sessionId, DomainID: 999999, EmailAddress: 'theirs@example.org' });
        expect({ c, foreign }).toEqual({ c, foreign: { Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' } });
        expect(missing).toEqual(foreign);
      }
      const malformed = await h.call({ Command: 'emailgateway.getsuppressions', SessionID: s.sessionId, DomainID: 'abc' });
      expect(malformed).toMatchObject({ Success: false, ErrorCode: [2] });
      const theirs = await cmd('getsuppressions', other);
      expect(theirs.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['theirs@example.org']);
    });

    it('answers [3] without EmailAddress', async () => {
      for (const c of ['addsuppression', 'deletesuppression']) {
        for (const params of [{}, { EmailAddress: '' }]) {
          const r = await cmd(c, s, params);
          expect({ c, r }).toEqual({ c, r: { Success: false, ErrorCode: [3], ErrorText: ['Missing required parameter (EmailAddress)'] } });
        }
      }
    });

    it('answers 4 for an address that is not an email, and [4] for a malformed value', async () => {
      for (const bad of ['not-an-email', 'two@@example.org', 'spaces in@example.org']) {
        const r = await cmd('addsuppression', s, { EmailAddress: bad });
        expect({ bad, r }).toEqual({ bad, r: { Success: false, ErrorCode: 4, ErrorText: 'Invalid email address' } });
      }
      const obj = await cmd('addsuppression', s, { EmailAddress: { a: 1 } });
      expect(obj).toEqual({ Success: false, ErrorCode: [4], ErrorText: ['Invalid email address'] });
      const longDetail = await cmd('addsuppression', s, { EmailAddress: 'ok@example.org', Detail: 'x'.repeat(1001) });
      expect(longDetail).toMatchObject({ Success: false, ErrorCode: [4] });
      expect(await h.services.db('suppressions').where({ domain_id: s.domainId, email: 'ok@example.org' })).toEqual([]);
    });

    it('answers 5 when deleting an address that is not listed on this domain', async () => {
      const r = await cmd('deletesuppression', s, { EmailAddress: 'theirs@example.org' });
      expect(r).toEqual({ Success: false, ErrorCode: 5, ErrorText: 'Email address is not on the suppression list' });
      expect((await cmd('getsuppressions', other)).TotalRecords).toBe(1);
    });

    it('answers [6] for RetrieveCount 101 and other bad paging or filter values', async () => {
      const text = ['Invalid paging or filter value (StartFrom ≥ 0, RetrieveCount 1-100)'];
      for (const params of [{ RetrieveCount: 101 }, { RetrieveCount: 0 }, { StartFrom: -1 }, { StartFrom: 'abc' }, { Reason: 'bogus' }]) {
        const r = await cmd('getsuppressions', s, params);
        expect({ params, r }).toEqual({ params, r: { Success: false, ErrorCode: [6], ErrorText: text } });
      }
      const ok = await cmd('getsuppressions', s, { RetrieveCount: 100 });
      expect(ok).toMatchObject({ Success: true, ErrorCode: 0 });
    });
  });
});

describe('/api/v1/suppressions with the sender key', () => {
  let s: Sender;
  beforeAll(async () => {
    s = await senderSetup(h);
  });

  it('adds with POST, lists with GET and removes with DELETE (JSON bodies)', async () => {
    const empty = await v1.get(s);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ TotalRecords: 0, Suppressions: [] });

    const added = await v1.post(s, { EmailAddress: 'Unsub@Example.org', Detail: 'unsubscribed by mail' });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({
      Suppression: {
        SuppressionID: expect.any(Number),
        EmailAddress: 'unsub@example.org',
        Reason: 'manual',
        Detail: 'unsubscribed by mail',
        CreatedAt: expect.stringMatching(TIME),
      },
    });
    await v1.post(s, { EmailAddress: 'second@example.org' });

    const list = await v1.get(s);
    expect(list.body.TotalRecords).toBe(2);
    expect(list.body.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['second@example.org', 'unsub@example.org']);
    const paged = await v1.get(s, '?RetrieveCount=1&StartFrom=1');
    expect(paged.body).toEqual({ TotalRecords: 2, Suppressions: [added.body.Suppression] });
    const queried = await v1.get(s, '?Query=unsub');
    expect(queried.body.TotalRecords).toBe(1);

    // The same list the private command shows for this domain.
    const priv = await cmd('getsuppressions', s);
    expect(priv.Suppressions).toEqual(list.body.Suppressions);

    const del = await v1.del(s, { EmailAddress: 'UNSUB@example.org' });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({});
    const after = await v1.get(s);
    expect(after.body.Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['second@example.org']);
  });

  it('answers code 5 when deleting an address that is not listed', async () => {
    const r = await v1.del(s, { EmailAddress: 'never-listed@example.org' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ Errors: [{ Code: 5, Message: 'Email address is not on the suppression list' }] });
  });

  it('answers codes 3, 4 and 6 for bad input, and 1/13 without a valid key (HTTP 200, upstream §2.1)', async () => {
    const missing = await v1.post(s, {});
    expect(missing.status).toBe(200);
    expect(missing.body).toEqual({ Errors: [{ Code: 3, Message: 'Missing EmailAddress' }] });
    const invalid = await v1.post(s, { EmailAddress: 'nope' });
    expect(invalid.status).toBe(200);
    expect(invalid.body).toEqual({ Errors: [{ Code: 4, Message: 'Invalid email address' }] });
    const paging = await v1.get(s, '?RetrieveCount=101');
    expect(paging.status).toBe(200);
    expect(paging.body.Errors[0].Code).toBe(6);
    const noKey = await h.request('GET', '/api/v1/suppressions');
    expect(noKey.body.Errors[0].Code).toBe(1);
    const badKey = await h.request('GET', '/api/v1/suppressions', { headers: { Authorization: 'Bearer not-a-real-key' } });
    expect(badKey.body.Errors[0].Code).toBe(13);
  });

  it('keeps one row when the same address is POSTed twice', async () => {
    const u = await senderSetup(h);
    const a = await v1.post(u, { EmailAddress: 'dup@example.org' });
    const b = await v1.post(u, { EmailAddress: 'Dup@Example.org' });
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    const list = await v1.get(u);
    expect(list.body.TotalRecords).toBe(1);
  });
});

describe('suppressions and sending', () => {
  it('blocks sends to a suppressed address from that domain only: another domain still delivers to it', async () => {
    const a = await senderSetup(h);
    const b = await senderSetup(h);
    const to = addr('blocked');
    await v1.post(a, { EmailAddress: to.toUpperCase() });

    const blocked = await send(a, [to], 'From A');
    expect(blocked.status).toBe(200);
    expect(blocked.body.Errors).toHaveLength(1);
    expect(blocked.body.Errors[0].Code).toBe(14);
    expect(blocked.body.Errors[0].Message).toContain(to);
    expect(await h.services.db('messages').where({ domain_id: a.domainId })).toEqual([]);

    const other = await send(b, [to], 'From B');
    expect(other.status).toBe(200);
    const id = other.body.MessageID;
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'delivered', 15000, 'B delivered');
    expect(sink.received.filter((m) => m.to.includes(to)).map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1])).toEqual(['From B']);
  });

  it('drops a suppressed recipient from a message with others, records a suppressed event, and sends the rest', async () => {
    const a = await senderSetup(h);
    const gone = addr('gone');
    const kept = addr('kept');
    await cmd('addsuppression', a, { EmailAddress: gone });
    const res = await send(a, [gone, kept], 'Mixed recipients');
    expect(res.status).toBe(200);
    const id = res.body.MessageID;
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'delivered', 15000, 'kept delivered');
    const deliveries = await h.services.db('deliveries').where({ message_id: id });
    expect(deliveries.map((d: { recipient: string }) => d.recipient)).toEqual([kept]);
    const suppressedEvents = await h.services.db('events').where({ message_id: id, type: 'suppressed' });
    expect(suppressedEvents).toHaveLength(1);
    expect(JSON.parse(suppressedEvents[0].data)).toEqual({ recipient: gone });
    expect(sink.received.some((m) => m.to.includes(gone))).toBe(false);

    // Taken off the list, the address can be sent to again.
    await cmd('deletesuppression', a, { EmailAddress: gone });
    const again = await send(a, [gone], 'After removal');
    expect(again.status).toBe(200);
  });
});
