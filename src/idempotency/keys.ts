/**
 * Idempotency-Key storage with a lease. A request claims its key for a short lease; its reply is stored under
 * the lease's token in the same transaction that commits its messages (see `commitStatement`), so after a crash
 * a retry finds either the committed reply (replayed) or nothing committed (the retry takes the lease over once
 * it has expired and runs the request again). A request whose lease was taken over cannot commit: the guarded
 * UPDATE touches no row and its transaction is rolled back, so a request never sends twice and never blocks a
 * retry for longer than the lease.
 *
 * A request that commits in several transactions (a batch's From domains) stores each but the last one's reply
 * so far as partial: the key stays in progress (a concurrent retry answers 409) and its lease is extended; if the
 * holder dies before its last commit, a retry replays the partial reply instead of running the request again.
 * Which answers are remembered at all: src/idempotency/remembered.ts.
 *
 * The interface is deliberately narrow (claim → lease: commitStatement, finish, release) so the module can move
 * behind the store of issue 15 unchanged.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { sha256hex } from '../auth/secrets';
import { isUniqueViolation, sql, Stmt } from '../db';

/** How long a key and its reply are kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** What the door answered: replayed verbatim for the same key and body. */
export interface StoredReply {
  status: number;
  body: unknown;
}

export type Claim = { kind: 'fresh'; lease: Lease } | { kind: 'replay'; reply: StoredReply } | { kind: 'mismatch' } | { kind: 'busy'; retryAfterSec: number };

export interface Lease {
  /**
   * The statement that stores `reply` while this lease still holds; it goes into the transaction that commits the
   * request's effects. It touches no row when a retry took the lease over: that transaction must then roll back.
   * `partial`: more commits follow; the reply so far is kept for a retry after a crash, the key stays in progress.
   */
  commitStatement(q: Knex | Knex.Transaction, reply: StoredReply, how?: { partial?: boolean }): Stmt;
  /** Stores the reply after the request (a failure, or a reply nothing was committed with); a no-op once stored or superseded. */
  finish(reply: StoredReply): Promise<void>;
  /**
   * Frees the key when nothing was committed under it (a failure before the commit, an answer a retry may change):
   * true when it did, false when the key holds a committed reply or was taken over.
   */
  release(): Promise<boolean>;
}

/** Thrown by the accept path when the lease's guarded commit found the key taken over: nothing was written. */
export class IdempotencySuperseded extends Error {
  constructor() {
    super('Idempotency-Key lease was taken over by a retry; this request committed nothing');
  }
}

/** A statement that writes the request's reply (or its reply so far) in the transaction of its effects (Lease.commitStatement). */
export type CommitStatement = (q: Knex | Knex.Transaction) => Stmt;

export interface ClaimOptions {
  keyHash: string;
  requestHash: string;
  leaseMs: number;
  /** Keys older than this are forgotten: the same key then starts afresh. */
  ttlMs: number;
  now?: number;
}

interface KeyRow {
  request_hash: string;
  status_code: number;
  response: string;
  created_at: number;
  lease_token: string | null;
  lease_until: number | null;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The key's identity (per credential and route: the same Idempotency-Key under another sender key or route is
 * another key) and the request's fingerprint: its body with object keys in a stable order, and its query-string
 * parameters when it has any (the command runs on both; the credential is left out, it already scopes the key).
 * A request without query parameters keeps the body-only fingerprint keys were stored under before.
 */
export function idempotencyHashes(
  credential: string,
  route: string,
  key: string,
  body: unknown,
  query: Record<string, unknown> = {},
): { keyHash: string; requestHash: string } {
  const request = Object.keys(query).length ? `${stableJson(body)}\n${stableJson(query)}` : stableJson(body);
  return { keyHash: sha256hex(`${credential}\n${route}\n${key}`), requestHash: sha256hex(request) };
}

/**
 * MySQL: the statement to send right after a lease's commitStatement in the same round trip. It fails with
 * ER_SUBQUERY_NO_1_ROW when that UPDATE touched no row (ROW_COUNT() is the previous statement's), so the statements
 * after it never run and the transaction is rolled back, instead of the caller reading the UPDATE's result and
 * sending the COMMIT in a round trip of its own.
 */
export function leaseHeldCheck(q: Knex | Knex.Transaction): Stmt {
  return sql(q, 'select (select 1 union all select 1 from dual where row_count() <> 1) as `lease_held`', []);
}

function leaseOf(db: Knex, keyHash: string, token: string, leaseMs: number): Lease {
  const open = () => db('idempotency_keys').where({ key_hash: keyHash, lease_token: token, status_code: 0 });
  return {
    commitStatement: (q, reply, how) =>
      how?.partial
        ? sql(q, 'update `idempotency_keys` set `response` = ?, `lease_until` = ? where `key_hash` = ? and `lease_token` = ? and `status_code` = 0', [
            JSON.stringify(reply.body),
            Date.now() + leaseMs,
            keyHash,
            token,
          ])
        : sql(q, 'update `idempotency_keys` set `status_code` = ?, `response` = ?, `lease_until` = null where `key_hash` = ? and `lease_token` = ?', [
            reply.status,
            JSON.stringify(reply.body),
            keyHash,
            token,
          ]),
    async finish(reply) {
      await open().update({ status_code: reply.status, response: JSON.stringify(reply.body), lease_until: null });
    },
    async release() {
      // A partial reply means messages were committed under the key: it must never be freed for a rerun.
      return (await open().where({ response: '' }).delete()) > 0;
    },
  };
}

/** Claims the key: a fresh lease (first use, or a dead holder's expired lease), the stored reply, a conflict, or busy. */
export async function claimKey(db: Knex, o: ClaimOptions): Promise<Claim> {
  const now = o.now ?? Date.now();
  const token = crypto.randomBytes(16).toString('hex');
  for (let tries = 0; tries < 3; tries++) {
    try {
      await db('idempotency_keys').insert({
        key_hash: o.keyHash,
        request_hash: o.requestHash,
        status_code: 0,
        response: '',
        created_at: now,
        lease_token: token,
        lease_until: now + o.leaseMs,
      });
      return { kind: 'fresh', lease: leaseOf(db, o.keyHash, token, o.leaseMs) };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const row: KeyRow | undefined = await db('idempotency_keys').where({ key_hash: o.keyHash }).first();
    if (!row) continue;
    if (Number(row.created_at) < now - o.ttlMs) {
      await db('idempotency_keys').where({ key_hash: o.keyHash, created_at: row.created_at }).delete();
      continue;
    }
    if (row.request_hash !== o.requestHash) return { kind: 'mismatch' };
    if (Number(row.status_code) !== 0) return { kind: 'replay', reply: { status: Number(row.status_code), body: JSON.parse(row.response) } };
    // Rows from before leases existed count their lease from created_at.
    const until = row.lease_until === null ? Number(row.created_at) + o.leaseMs : Number(row.lease_until);
    if (until > now) return { kind: 'busy', retryAfterSec: Math.max(1, Math.ceil((until - now) / 1000)) };
    const held = db('idempotency_keys').where({ key_hash: o.keyHash, status_code: 0 });
    const holder = () => (row.lease_token === null ? held.clone().whereNull('lease_token') : held.clone().where({ lease_token: row.lease_token }));
    if (row.response !== '') {
      // The holder died between commits: what it committed is the answer (the partial reply says which messages
      // were not written). Made final under a new token, so a holder that was only slow can commit nothing more.
      const final = await holder().where({ response: row.response }).update({ status_code: 200, lease_token: token, lease_until: null });
      if (final === 1) return { kind: 'replay', reply: { status: 200, body: JSON.parse(row.response) } };
      continue;
    }
    // The holder is gone (or too slow): take the lease over. Only one retry can; the old holder's commit then fails.
    const taken = await holder().update({
      lease_token: token,
      lease_until: now + o.leaseMs,
    });
    if (taken === 1) return { kind: 'fresh', lease: leaseOf(db, o.keyHash, token, o.leaseMs) };
  }
  return { kind: 'busy', retryAfterSec: 1 };
}

/** Deletes keys past their time to live (a periodic task of the worker role). */
export async function purgeExpiredKeys(db: Knex, ttlMs: number, now = Date.now()): Promise<number> {
  return db('idempotency_keys')
    .where('created_at', '<', now - ttlMs)
    .delete();
}
