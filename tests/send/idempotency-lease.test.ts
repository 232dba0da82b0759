/**
 * Idempotency-Key leases (issue 13 item 2): a key left at "processing" by a process that died blocks a retry only
 * for IDEMPOTENCY_LEASE_SECONDS, then the retry runs the request (once); a successful send's reply is committed
 * with its messages, and a request whose lease was taken over commits nothing. The kill -9 version of this,
 * through a real api process, is tests/mysql-only/idempotency-crash.test.ts.
 */
import crypto from 'node:crypto';
import { affectedRows, runInTurn } from '../../src/db';
import { claimKey, CommitStatement, idempotencyHashes, IdempotencySuperseded } from '../../src/idempotency/keys';
import { findUser } from '../../src/auth/users';
import { lowercaseKeys } from '../../src/http/params';
import { acceptMessages } from '../../src/mail/accept';
import type { Accepted } from '../../src/mail/prepare';
import { parseSendRequest } from '../../src/mail/send-request';
import { Harness, Reply, senderSetup, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ IDEMPOTENCY_LEASE_SECONDS: '1' });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

const body = (subject: string) => ({
  Messages: [0, 1, 2].map((i) => ({
    Subject: subject,
    ContentType: 'plain',
    PlainContent: 'hello',
    From: { name: 'Shop', email: `shop@${s.domain}` },
    To: [{ name: '', email: `r${i}@recipient.test` }],
  })),
});

const post = (key: string, b: unknown) =>
  h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}`, 'Idempotency-Key': key }, body: b as object });

async function messagesWith(subject: string): Promise<number> {
  const [{ n }] = await h.services.db('messages').where({ subject }).count({ n: '*' });
  return Number(n);
}

/** What a process that died mid-request leaves: the key claimed (status "processing") and nothing committed. */
async function abandonedClaim(key: string, b: unknown, leaseMs = 1000) {
  const claim = await claimKey(h.services.db, { ...idempotencyHashes(s.key, 'post /api/v1/email/batch', key, b), leaseMs, ttlMs: 86_400_000 });
  expect(claim.kind).toBe('fresh');
  return claim.kind === 'fresh' ? claim.lease : null!;
}

it("answers 409 with Retry-After while a dead holder's lease runs, then runs the request once and replays it after", async () => {
  const key = `crashed-${crypto.randomUUID()}`;
  const subject = `lease ${key}`;
  await abandonedClaim(key, body(subject));

  const early = await post(key, body(subject));
  expect(early.status).toBe(409);
  expect(early.body).toEqual({ Errors: [{ Code: 409, Message: 'A request with this Idempotency-Key is still being processed' }] });
  expect(Number(early.headers['retry-after'])).toBeGreaterThanOrEqual(1);

  let later: Reply | undefined;
  await waitFor(async () => (later = await post(key, body(subject))).status !== 409, 10_000, 'the lease to expire');
  expect(later!.status).toBe(200);
  expect(later!.body.Accepted).toBe(3);
  expect(await messagesWith(subject)).toBe(3);

  const again = await post(key, body(subject));
  expect(again.status).toBe(200);
  expect(again.headers['idempotent-replayed']).toBe('true');
  expect(again.body).toEqual(later!.body);
  expect(await messagesWith(subject)).toBe(3);
});

it('replays the reply so far of a holder that died between the partial commits of a batch, and runs nothing again', async () => {
  const key = `partial-${crypto.randomUUID()}`;
  const subject = `partial ${key}`;
  const lease = await abandonedClaim(key, body(subject));
  const soFar = { Total: 3, Accepted: 1, Rejected: 2, Results: [{ MessageID: 'written-before-the-crash' }, { Errors: [] }, { Errors: [] }] };
  const [stored] = await runInTurn([lease.commitStatement(h.services.db, { status: 200, body: soFar }, { partial: true })]);
  expect(affectedRows(stored)).toBe(1);

  expect((await post(key, body(subject))).status).toBe(409);
  let later: Reply | undefined;
  await waitFor(async () => (later = await post(key, body(subject))).status !== 409, 10_000, 'the lease to expire');
  expect(later!.status).toBe(200);
  expect(later!.headers['idempotent-replayed']).toBe('true');
  expect(later!.body).toEqual(soFar);
  expect((await post(key, body(subject))).body).toEqual(soFar);
  expect(await messagesWith(subject)).toBe(0);
});

it("still answers 409 for another body under a dead holder's key", async () => {
  const key = `crashed-${crypto.randomUUID()}`;
  await abandonedClaim(key, body('the first body'));
  await new Promise((r) => setTimeout(r, 1100));
  const other = await post(key, body('another body'));
  expect(other.status).toBe(409);
  expect(other.body.Errors[0].Message).toBe('Idempotency-Key was already used with a different request body');
});

it("stores a send's reply in the transaction of its messages: the row says 200 as soon as they exist", async () => {
  const key = `atomic-${crypto.randomUUID()}`;
  const subject = `atomic ${key}`;
  const { keyHash } = idempotencyHashes(s.key, 'post /api/v1/email/batch', key, body(subject));
  let done = false;
  const pending = post(key, body(subject)).then((r) => ((done = true), r));
  const seen: { messages: number; status: number | null }[] = [];
  while (!done) {
    await new Promise((r) => setImmediate(r)); // SQLite answers synchronously: let the request's I/O run
    const messages = await messagesWith(subject);
    const row = await h.services.db('idempotency_keys').where({ key_hash: keyHash }).first('status_code');
    seen.push({ messages, status: row ? Number(row.status_code) : null });
  }
  expect((await pending).status).toBe(200);
  // Messages read first, then the key: once messages were visible, the key must already hold the reply.
  for (const x of seen) if (x.messages > 0) expect(x.status).toBe(200);
});

it('lets no request commit once a retry has taken its lease over', async () => {
  const key = `superseded-${crypto.randomUUID()}`;
  const first = await abandonedClaim(key, body('x'), 1);
  await new Promise((r) => setTimeout(r, 5));
  const retry = await claimKey(h.services.db, { ...idempotencyHashes(s.key, 'post /api/v1/email/batch', key, body('x')), leaseMs: 60_000, ttlMs: 86_400_000 });
  expect(retry.kind).toBe('fresh');
  // The first holder's guarded reply no longer matches a row: its transaction would roll back. The retry's does.
  const [stale] = await runInTurn([first.commitStatement(h.services.db, { status: 200, body: { late: true } })]);
  expect(affectedRows(stale)).toBe(0);
  if (retry.kind !== 'fresh') return;
  const [own] = await runInTurn([retry.lease.commitStatement(h.services.db, { status: 200, body: { ok: true } })]);
  expect(affectedRows(own)).toBe(1);
});

it('fails only the send whose lease was taken over when it shares its accept group with others: the rest commit', async () => {
  const user = (await findUser(h.services.db, s.userId))!;
  const domain = await h.services.db('sender_domains').where({ id: s.domainId }).first();
  const sender = { user, domain, apiKeyId: null, source: 'api' as const };
  const run = crypto.randomUUID();
  const request = (subject: string) =>
    parseSendRequest(lowercaseKeys({ ...body(subject).Messages[0], To: [{ name: '', email: `${subject}@recipient.test` }] }) as never, {
      maxAttachmentBytes: 1 << 20,
      now: Date.now(),
    }).req;
  const hashes = (name: string) => idempotencyHashes(s.key, 'post /api/v1/email/batch', name, body(name));
  // The first holder's lease is taken over by a retry; another request holds its own.
  const stale = await abandonedClaim(`lost-${run}`, body(`lost-${run}`), 1);
  await new Promise((r) => setTimeout(r, 5));
  expect((await claimKey(h.services.db, { ...hashes(`lost-${run}`), leaseMs: 60_000, ttlMs: 86_400_000 })).kind).toBe('fresh');
  const held = await abandonedClaim(`kept-${run}`, body(`kept-${run}`), 60_000);
  const replyOf =
    (lease: typeof stale) =>
    ([a]: Accepted[]): CommitStatement =>
    (q) =>
      lease.commitStatement(q, { status: 200, body: { MessageID: a.ok ? a.messageId : null } });
  // Submitted together: one accept group.
  const [lost, kept, plain] = await Promise.allSettled([
    acceptMessages(h.services, sender, [request(`lost-${run}`)], undefined, replyOf(stale)),
    acceptMessages(h.services, sender, [request(`kept-${run}`)], undefined, replyOf(held)),
    acceptMessages(h.services, sender, [request(`plain-${run}`)]),
  ]);
  expect(lost.status === 'rejected' && lost.reason).toBeInstanceOf(IdempotencySuperseded);
  expect(await messagesWith(`lost-${run}`)).toBe(0);
  expect(await messagesWith(`kept-${run}`)).toBe(1);
  expect(await messagesWith(`plain-${run}`)).toBe(1);
  if (kept.status !== 'fulfilled' || !kept.value[0].ok) throw new Error("the held lease's send was not accepted");
  expect(plain.status === 'fulfilled' && plain.value[0].ok).toBe(true);
  const row = await h.services
    .db('idempotency_keys')
    .where({ key_hash: hashes(`kept-${run}`).keyHash })
    .first();
  expect(Number(row.status_code)).toBe(200);
  expect(JSON.parse(row.response)).toEqual({ MessageID: kept.value[0].messageId });
});
