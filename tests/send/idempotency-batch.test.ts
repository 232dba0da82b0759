/**
 * Idempotency-Key on POST /api/v1/email and /api/v1/email/batch, and the batch command itself
 * (emailgateway.sendbatch): per-message results in order, counts, the 1–1,000 bound (code 45).
 */
import crypto from 'node:crypto';
import { idempotencyHashes } from '../../src/idempotency/keys';
import { accountKey, addDomain, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
import { holdTransactions } from '../helpers/hold-transactions';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
let s: Sender;

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

function post(path: string, body: unknown, opts: { key?: string; idem?: string } = {}) {
  const headers: Record<string, string> = { Authorization: `Bearer ${opts.key ?? s.key}` };
  if (opts.idem !== undefined) headers['Idempotency-Key'] = opts.idem;
  return h.request('POST', path, { headers, body });
}

function message(extra: Record<string, unknown> = {}, domain = s.domain) {
  return {
    Subject: 'Receipt',
    ContentType: 'plain',
    PlainContent: 'Thanks for your order.',
    From: { name: 'Shop', email: `shop@${domain}` },
    To: [{ name: 'Bo', email: 'bo@recipient.test' }],
    ...extra,
  };
}

function idemKey(): string {
  return `order-${crypto.randomUUID()}`;
}

async function countMessages(where: Record<string, unknown>): Promise<number> {
  const [{ n }] = await h.services.db('messages').where(where).count({ n: '*' });
  return Number(n);
}

/** A sender with a second Enabled domain, and an account key that may send from both. */
async function twoDomains(limits: Record<string, unknown> = {}) {
  const own = await senderSetup(h, limits);
  const second = uniqueDomain('send');
  await h.services
    .db('sender_domains')
    .where({ id: await addDomain(h, own.sessionId, second) })
    .update({ status: 'Enabled' });
  return { own, second, sk: await accountKey(h, own.sessionId) };
}

describe('Idempotency-Key on POST /api/v1/email', () => {
  it('replays the first answer for the same key and body, marks it Idempotent-Replayed, and stores one message', async () => {
    const key = idemKey();
    const body = message({ Subject: `idem ${key}` });
    const first = await post('/api/v1/email', body, { idem: key });
    expect(first.status).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(first.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);

    const second = await post('/api/v1/email', body, { idem: key });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');

    expect(await countMessages({ subject: `idem ${key}` })).toBe(1);
    expect(await h.services.db('deliveries').where({ message_id: first.body.MessageID }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('treats the same body with its keys in another order as the same request', async () => {
    const key = idemKey();
    const body = message({ Subject: `reordered ${key}` });
    const first = await post('/api/v1/email', body, { idem: key });
    const reversed = Object.fromEntries(Object.entries(body).reverse());
    const second = await post('/api/v1/email', reversed, { idem: key });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(await countMessages({ subject: `reordered ${key}` })).toBe(1);
  });

  it('replays an error answer too', async () => {
    const key = idemKey();
    const body = message({ Subject: '' });
    const first = await post('/api/v1/email', body, { idem: key });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ Errors: [{ Code: 8, Message: 'Missing Subject' }] });
    const second = await post('/api/v1/email', body, { idem: key });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });

  it('answers 409 for the same key with a different body, and sends nothing more', async () => {
    const key = idemKey();
    const first = await post('/api/v1/email', message({ Subject: `first ${key}` }), { idem: key });
    expect(first.status).toBe(200);
    const other = await post('/api/v1/email', message({ Subject: `second ${key}` }), { idem: key });
    expect(other.status).toBe(409);
    expect(other.body).toEqual({ Errors: [{ Code: 409, Message: 'Idempotency-Key was already used with a different request body' }] });
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(await countMessages({ subject: `second ${key}` })).toBe(0);
  });

  it('answers 409 for the same key with other parameters in the query string, and sends nothing more', async () => {
    const key = idemKey();
    const query = (to: string, subject: string) =>
      new URLSearchParams({
        SenderAPIKey: s.key,
        From: JSON.stringify({ name: 'Shop', email: `shop@${s.domain}` }),
        To: JSON.stringify([{ name: '', email: to }]),
        Subject: subject,
        ContentType: 'plain',
        PlainContent: 'hello',
      }).toString();
    const send = (q: string) => h.request('POST', `/api/v1/email?${q}`, { headers: { 'Idempotency-Key': key } });
    const alice = query('alice@recipient.test', `query 1 ${key}`);
    const first = await send(alice);
    expect(first.status).toBe(200);
    expect(first.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);

    const bob = await send(query('bob@recipient.test', `query 2 ${key}`));
    expect(bob.status).toBe(409);
    expect(bob.body).toEqual({ Errors: [{ Code: 409, Message: 'Idempotency-Key was already used with a different request body' }] });
    expect(bob.headers['idempotent-replayed']).toBeUndefined();
    expect(await countMessages({ subject: `query 2 ${key}` })).toBe(0);

    // The same query again is the same request; so is the credential moved to a header.
    const again = await send(alice);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    const moved = await h.request('POST', `/api/v1/email?${alice.replace(/^SenderAPIKey=[^&]*&/, '')}`, {
      headers: { 'X-API-Key': s.key, 'Idempotency-Key': key },
    });
    expect(moved.headers['idempotent-replayed']).toBe('true');
    expect(await countMessages({ subject: `query 1 ${key}` })).toBe(1);
  });

  it('answers 400 for a key longer than 256 characters and accepts one of exactly 256', async () => {
    const tooLong = await post('/api/v1/email', message({ Subject: 'long key' }), { idem: 'k'.repeat(257) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toEqual({ Errors: [{ Code: 400, Message: 'Idempotency-Key must be at most 256 characters' }] });
    expect(await countMessages({ subject: 'long key' })).toBe(0);

    const max = `${crypto.randomBytes(8).toString('hex')}${'k'.repeat(240)}`;
    expect(max).toHaveLength(256);
    const ok = await post('/api/v1/email', message({ Subject: `max key ${max.slice(0, 16)}` }), { idem: max });
    expect(ok.status).toBe(200);
  });

  it('keeps keys of different sender keys apart: the same Idempotency-Key sends once per sender key', async () => {
    const other = await senderSetup(h);
    const key = idemKey();
    const subject = `shared ${key}`;
    const mine = await post('/api/v1/email', message({ Subject: subject }), { idem: key });
    const theirs = await post('/api/v1/email', message({ Subject: subject }, other.domain), { key: other.key, idem: key });
    expect(mine.status).toBe(200);
    expect(theirs.status).toBe(200);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body.MessageID).not.toBe(mine.body.MessageID);
    expect(await countMessages({ subject, user_id: s.userId })).toBe(1);
    expect(await countMessages({ subject, user_id: other.userId })).toBe(1);

    // Same user, second key of the same domain: independent as well.
    const k2 = await h.call({ Command: 'emailgateway.addapi', SessionID: s.sessionId, DomainID: s.domainId, Description: 'second' });
    const again = await post('/api/v1/email', message({ Subject: subject }), { key: k2.APIKey.APIKey, idem: key });
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(await countMessages({ subject, user_id: s.userId })).toBe(2);
  });

  it('keeps keys apart whichever way the sender key comes (X-API-Key, ?SenderAPIKey=), and holds none for a caller without one', async () => {
    const other = await senderSetup(h);
    const key = idemKey();
    const subject = `scoped ${key}`;
    const body = message({ Subject: subject });
    const send = (headers: Record<string, string>, query = '') => {
      return h.request('POST', `/api/v1/email${query}`, { headers: { 'Idempotency-Key': key, ...headers }, body });
    };
    // No credential: answered code 1, and nothing is claimed that could block or answer the owner's send.
    const anonymous = await send({});
    expect(anonymous.body.Errors[0].Code).toBe(1);
    expect(anonymous.headers['idempotent-replayed']).toBeUndefined();
    const mine = await send({ 'X-API-Key': s.key });
    expect(mine.status).toBe(200);
    expect(mine.headers['idempotent-replayed']).toBeUndefined();
    expect(mine.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    // The same credential in another place replays; another tenant's key (header or query) gets its own answer
    // (code 3: the From is not on its domain; the second time its own answer again), never the first MessageID.
    const replay = await send({}, `?SenderAPIKey=${encodeURIComponent(s.key)}`);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.MessageID).toBe(mine.body.MessageID);
    const theirs = await send({ 'X-API-Key': other.key });
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body).toEqual({ Errors: [expect.objectContaining({ Code: 3 })] });
    const theirsAgain = await send({}, `?SenderAPIKey=${encodeURIComponent(other.key)}`);
    expect(theirsAgain.headers['idempotent-replayed']).toBe('true');
    expect(theirsAgain.body).toEqual(theirs.body);
    expect((await send({})).body.Errors[0].Code).toBe(1);
    expect(await countMessages({ subject, user_id: s.userId })).toBe(1);
  });

  it('two concurrent requests with the same key and body store one message', async () => {
    const key = idemKey();
    const subject = `race ${key}`;
    const body = message({ Subject: subject });
    const answers = await Promise.all([post('/api/v1/email', body, { idem: key }), post('/api/v1/email', body, { idem: key })]);
    const ok = answers.filter((a) => a.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const a of answers) {
      if (a.status === 200) expect(a.body).toEqual(ok[0].body);
      else expect(a.body).toEqual({ Errors: [{ Code: 409, Message: 'A request with this Idempotency-Key is still being processed' }] });
    }
    expect(await countMessages({ subject })).toBe(1);
  });

  it('does not remember a rate-limited (429) answer: the key stays free for a later retry', async () => {
    const k = (await h.call({ Command: 'emailgateway.addapi', SessionID: s.sessionId, DomainID: s.domainId, Description: 'burst' })).APIKey.APIKey as string;
    for (let i = 0; i < 100; i += 10) {
      const burst = await Promise.all(Array.from({ length: 10 }, () => post('/api/v1/email', {}, { key: k })));
      for (const r of burst) expect(r.status).toBe(200);
    }
    const key = idemKey();
    const limited = await post('/api/v1/email', message({ Subject: `limited ${key}` }), { key: k, idem: key });
    expect(limited.status).toBe(429);
    expect(limited.body.Errors[0].Code).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Had the 429 been stored, a different body under the same key would be a 409 conflict.
    const retry = await post('/api/v1/email', message({ Subject: `other ${key}` }), { key: k, idem: key });
    expect(retry.status).toBe(429);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
  });

  it('does not remember a quota answer (17): once the limit is raised, the same request under the same key sends', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 1 });
    expect((await post('/api/v1/email', message({ Subject: 'uses the quota' }, own.domain), { key: own.key })).body.MessageID).toBeDefined();
    const key = idemKey();
    const body = message({ Subject: `quota ${key}` }, own.domain);
    const limited = await post('/api/v1/email', body, { key: own.key, idem: key });
    expect(limited.status).toBe(200);
    expect(limited.body.Errors[0].Code).toBe(17);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: own.userId, LimitEmailSendPerDay: 10 });
    const retry = await post('/api/v1/email', body, { key: own.key, idem: key });
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    expect(await countMessages({ subject: `quota ${key}` })).toBe(1);
  });

  it('claims nothing for a credential that does not authenticate: no key row is written', async () => {
    const key = idemKey();
    const body = message({ Subject: `credential ${key}` });
    const unknown = `eg_live_${crypto.randomBytes(16).toString('hex')}`;
    const bad = await post('/api/v1/email', body, { key: unknown, idem: key });
    expect(bad.body.Errors[0].Code).toBe(13);
    const { keyHash } = idempotencyHashes(unknown, 'post /api/v1/email', key, body);
    expect(await h.services.db('idempotency_keys').where({ key_hash: keyHash }).first()).toBeUndefined();
  });

  it('replays nothing to a revoked sender key: it answers 13 as without an Idempotency-Key', async () => {
    const key = idemKey();
    const own = await senderSetup(h);
    const sent = await post('/api/v1/email', message({ Subject: `revoked ${key}` }, own.domain), { key: own.key, idem: key });
    expect(sent.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    await h.call({ Command: 'emailgateway.deleteapi', SessionID: own.sessionId, APIKeyID: own.keyId });
    const revoked = await post('/api/v1/email', message({ Subject: `revoked ${key}` }, own.domain), { key: own.key, idem: key });
    expect(revoked.headers['idempotent-replayed']).toBeUndefined();
    expect(revoked.body).toEqual({ Errors: [{ Code: 13, Message: 'Invalid SenderAPIKey' }] });
  });

  it('without an Idempotency-Key, the same body twice sends twice', async () => {
    const subject = `no key ${crypto.randomUUID()}`;
    const a = await post('/api/v1/email', message({ Subject: subject }));
    const b = await post('/api/v1/email', message({ Subject: subject }));
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body.MessageID).not.toBe(b.body.MessageID);
    expect(await countMessages({ subject })).toBe(2);
  });
});

describe('POST /api/v1/email/batch', () => {
  it('answers Results in request order, each a MessageID or Errors, with Total/Accepted/Rejected', async () => {
    const tagged = (n: number) => `batch-mixed ${n}`;
    const res = await post('/api/v1/email/batch', {
      Messages: [
        message({ Subject: tagged(0) }),
        message({ Subject: '' }),
        message({
          Subject: tagged(2),
          To: [
            { name: 'A', email: 'a@recipient.test' },
            { name: 'B', email: 'b@recipient.test' },
          ],
        }),
        message({ Subject: tagged(3), From: { name: 'X', email: 'x@elsewhere.example.org' } }),
        message({ Subject: tagged(4), To: [{ name: 'Bad', email: 'bad@' }], BCC: 'nope' }),
        message({ Subject: tagged(5), TemplateID: 3 }),
      ],
    });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['Accepted', 'Rejected', 'Results', 'Total']);
    expect(res.body.Total).toBe(6);
    expect(res.body.Accepted).toBe(2);
    expect(res.body.Rejected).toBe(4);
    const r = res.body.Results;
    expect(r).toHaveLength(6);
    expect(Object.keys(r[0])).toEqual(['MessageID']);
    expect(Object.keys(r[2])).toEqual(['MessageID']);
    expect(r[1]).toEqual({ Errors: [{ Code: 8, Message: 'Missing Subject' }] });
    expect(r[3]).toEqual({ Errors: [{ Code: 3, Message: `From address must be on ${s.domain}` }] });
    expect(r[4]).toEqual({
      Errors: [
        { Code: 19, Message: 'To[0] email address "bad@" is invalid' },
        { Code: 24, Message: 'BCC must be an array of {name, email}' },
      ],
    });
    expect(r[5]).toEqual({ Errors: [{ Code: 15, Message: 'Invalid TemplateID: 3 does not exist' }] });

    const m0 = await h.services.db('messages').where({ id: r[0].MessageID }).first('subject');
    const m2 = await h.services.db('messages').where({ id: r[2].MessageID }).first('subject');
    expect([m0.subject, m2.subject]).toEqual([tagged(0), tagged(2)]);
    const d2 = await h.services.db('deliveries').where({ message_id: r[2].MessageID }).orderBy('id').pluck('recipient');
    expect(d2).toEqual(['a@recipient.test', 'b@recipient.test']);
    for (const n of [3, 4, 5]) expect(await countMessages({ subject: tagged(n) })).toBe(0);
  });

  it('answers 45 for 1,001 messages and stores none', async () => {
    const subject = `too many ${crypto.randomUUID()}`;
    const res = await post('/api/v1/email/batch', { Messages: Array.from({ length: 1001 }, () => message({ Subject: subject })) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Errors: [{ Code: 45, Message: 'Invalid Messages: send an array of 1 to 1000 messages' }] });
    expect(await countMessages({ subject })).toBe(0);
  });

  it('answers 45 for an empty Messages array, a missing Messages and a non-array Messages', async () => {
    for (const body of [{ Messages: [] }, {}, { Messages: 'all of them' }]) {
      const res = await post('/api/v1/email/batch', body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ Errors: [{ Code: 45, Message: 'Invalid Messages: send an array of 1 to 1000 messages' }] });
    }
  });

  it('accepts a batch of 300 valid messages and stores all 300 with their deliveries', async () => {
    const subject = `bulk ${crypto.randomUUID()}`;
    const res = await post('/api/v1/email/batch', {
      Messages: Array.from({ length: 300 }, (_, i) => message({ Subject: subject, To: [{ name: `R${i}`, email: `bulk${i}@recipient.test` }] })),
    });
    expect(res.status).toBe(200);
    expect(res.body.Total).toBe(300);
    expect(res.body.Accepted).toBe(300);
    expect(res.body.Rejected).toBe(0);
    const ids: string[] = res.body.Results.map((x: { MessageID: string }) => x.MessageID);
    expect(ids.every((id) => /^[0-9a-f-]{36}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(300);
    // A batch this big is one pending row until a worker or a read of the account's mail expands it: read one first.
    expect((await h.request('GET', `/api/v1/email/${ids[0]}`, { headers: { Authorization: `Bearer ${s.key}` } })).status).toBe(200);
    const rows = await h.services.db('messages').where({ subject }).pluck('id');
    expect(rows.sort()).toEqual([...ids].sort());
    // Results keep request order: message i went to bulk{i}@.
    const recipients = await h.services.db('deliveries').whereIn('message_id', ids).select('message_id', 'recipient');
    const byMessage = new Map(recipients.map((d: { message_id: string; recipient: string }) => [d.message_id, d.recipient]));
    expect(recipients).toHaveLength(300);
    ids.forEach((id, i) => expect(byMessage.get(id)).toBe(`bulk${i}@recipient.test`));
  });

  it('answers every valid message with 17 when together they pass the daily limit, and stores none', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 2 });
    const res = await post(
      '/api/v1/email/batch',
      {
        Messages: [0, 1, 2]
          .map((i) => message({ To: [{ name: '', email: `q${i}@recipient.test` }] }, own.domain))
          .concat([message({ Subject: '' }, own.domain)]),
      },
      { key: own.key },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Total: 4, Accepted: 0, Rejected: 4 });
    expect(res.body.Results.slice(0, 3).map((x: { Errors: { Code: number }[] }) => x.Errors.map((e) => e.Code))).toEqual([[17], [17], [17]]);
    expect(res.body.Results[3]).toEqual({ Errors: [{ Code: 8, Message: 'Missing Subject' }] });
    expect(await countMessages({ user_id: own.userId })).toBe(0);
  });

  it('keeps a multi-domain batch in progress until its last From domain is written: a concurrent retry waits, then replays all', async () => {
    const { own, second, sk } = await twoDomains();
    const key = idemKey();
    const subject = (d: string) => `domains ${d} ${key}`;
    const body = { Messages: [own.domain, second].map((d) => message({ Subject: subject(d), From: { name: 'Shop', email: `shop@${d}` } })) };
    // Holds every accept transaction that starts once the first domain's message is written and the second's is not:
    // the original request is then between its two group commits.
    const held = holdTransactions(
      h.services.store,
      async () => (await countMessages({ subject: subject(own.domain) })) > 0 && (await countMessages({ subject: subject(second) })) === 0,
    );
    try {
      const first = post('/api/v1/email/batch', body, { key: sk, idem: key }).then((r) => r);
      await held.reached;
      const retry = await post('/api/v1/email/batch', body, { key: sk, idem: key });
      expect(retry.status).toBe(409);
      expect(retry.body).toEqual({ Errors: [{ Code: 409, Message: 'A request with this Idempotency-Key is still being processed' }] });
      expect(Number(retry.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      held.open();
      const done = await first;
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ Total: 2, Accepted: 2, Rejected: 0 });
      const after = await post('/api/v1/email/batch', body, { key: sk, idem: key });
      expect(after.headers['idempotent-replayed']).toBe('true');
      expect(after.body).toEqual(done.body);
    } finally {
      held.restore();
    }
    expect(await countMessages({ subject: subject(own.domain) })).toBe(1);
    expect(await countMessages({ subject: subject(second) })).toBe(1);
  });

  it('replays the final answer of a multi-domain batch whose last domain wrote nothing (the quota), not its reply so far', async () => {
    const { own, second, sk } = await twoDomains({ LimitEmailSendPerDay: 1 });
    const key = idemKey();
    const body = { Messages: [own.domain, second].map((d) => message({ Subject: `last ${key}`, From: { name: 'Shop', email: `shop@${d}` } })) };
    const first = await post('/api/v1/email/batch', body, { key: sk, idem: key });
    expect(first.body).toMatchObject({ Total: 2, Accepted: 1, Rejected: 1 });
    expect(first.body.Results[1].Errors[0].Code).toBe(17);
    // The first domain's message was committed under the key: the key is kept, with the answer that was given.
    const again = await post('/api/v1/email/batch', body, { key: sk, idem: key });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await countMessages({ subject: `last ${key}` })).toBe(1);
  });

  it('replays a batch under the same Idempotency-Key without storing it twice', async () => {
    const key = idemKey();
    const subject = `batch idem ${key}`;
    const body = { Messages: [message({ Subject: subject }), message({ Subject: subject, To: [{ name: '', email: 'z@recipient.test' }] })] };
    const first = await post('/api/v1/email/batch', body, { idem: key });
    expect(first.status).toBe(200);
    expect(first.body.Accepted).toBe(2);
    const second = await post('/api/v1/email/batch', body, { idem: key });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(await countMessages({ subject })).toBe(2);

    // The same Idempotency-Key on the single-message route is a different request scope.
    const single = await post('/api/v1/email', message({ Subject: subject }), { idem: key });
    expect(single.status).toBe(200);
    expect(single.headers['idempotent-replayed']).toBeUndefined();
    expect(await countMessages({ subject })).toBe(3);
  });
});
