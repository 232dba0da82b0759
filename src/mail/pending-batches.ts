import v8 from 'node:v8';
import type { Knex } from 'knex';
import type { Services } from '../command';
import { insertRows, Stmt } from '../db';
import { DELIVERY_QUEUE, DeliveryJob } from '../delivery/enqueue';
import type { Prepared } from './prepare';

/**
 * A big submission accepted as one row (issue 15, "one durable row per batch request"): everything that decides
 * the reply (validation, suppression, quota, ids, the idempotent reply) happens at accept as before, then its
 * prepared messages go into one `pending_batches` row instead of a messages, a deliveries and an events row (and
 * rollups) each. The row is expanded into exactly those rows, with the accept's timestamps, by the delivery worker
 * (its job), the sweeper (a lost job) or the first read of the user's mail (src/mail/expand-batches.ts).
 */
export const PENDING_TABLE = 'pending_batches';

/** One prepared message and the accept time of its submission. */
export interface PendingEntry {
  p: Prepared;
  now: number;
}

/**
 * Largest payload stored as one row: well under MariaDB's default max_allowed_packet (16 MiB), since the row
 * travels as one bound binary value. A bigger submission (large attachments) is written the direct way.
 */
export const MAX_PENDING_BYTES = 8 << 20;

/** The payload's own shape version (beside V8's format version, which v8.deserialize reads itself). */
const PAYLOAD_VERSION = 1;

/**
 * The payload of a row, or null when this submission is written the direct way: too big for one row, or a
 * campaign's (messages.campaign_id + subscriber_id are unique: a duplicate must fail at accept, not at expansion).
 *
 * v8.serialize, not JSON: the entries hold Buffers (stored content, raw SMTP MIME) that JSON would turn into
 * base64 or arrays of numbers (a copy each way, a third bigger); the V8 format writes them as they are, keeps null
 * and undefined apart, and is as fast as JSON.stringify here. Across Node upgrades: V8 reads what older V8 wrote
 * (its format carries a version), not the reverse, so rows written by a newer Node cannot be read after a downgrade;
 * such a row is logged and left (src/mail/expand-batches.ts). Rows live seconds: let workers drain them first.
 */
export function encodePending(entries: PendingEntry[]): Buffer | null {
  if (entries.some((e) => e.p.message.campaign_id !== null && e.p.message.campaign_id !== undefined)) return null;
  // V8 writes each message's strings again (a template shared by every message is not shared in the payload): a
  // payload known too big from its bodies' lengths alone (a lower bound of their bytes) is not built to be dropped.
  if (entries.reduce((n, e) => n + bodyLength(e.p), 0) > MAX_PENDING_BYTES) return null;
  const payload = v8.serialize({ v: PAYLOAD_VERSION, entries });
  return payload.length <= MAX_PENDING_BYTES ? payload : null;
}

function bodyLength(p: Prepared): number {
  const c = p.stored;
  const mime = (p.message.mime as Buffer | null | undefined)?.length ?? 0;
  return mime + (c ? (c.html?.length ?? 0) + (c.text?.length ?? 0) + c.attachments.reduce((n, a) => n + a.content.length, 0) : 0);
}

/** The entries of a row's payload; throws on a payload this release cannot read. */
export function decodePending(payload: Buffer): PendingEntry[] {
  const data = v8.deserialize(payload) as { v?: number; entries?: PendingEntry[] };
  if (data?.v !== PAYLOAD_VERSION || !Array.isArray(data.entries)) throw new Error(`pending batch payload of unknown version ${String(data?.v)}`);
  return data.entries;
}

/** The INSERT of one row (on MySQL plain SQL, its payload a bound value: binary protocol when big, see batch-pool.ts). */
export function insertPending(
  q: Knex | Knex.Transaction,
  row: { id: string; userId: number; domainId: number; entries: PendingEntry[]; payload: Buffer; now: number },
): Stmt {
  return insertRows(q, PENDING_TABLE, [
    {
      id: row.id,
      user_id: row.userId,
      domain_id: row.domainId,
      messages: row.entries.length,
      recipients: row.entries.reduce((n, e) => n + e.p.recipients.length, 0),
      created_at: row.now,
      payload: row.payload,
    },
  ]);
}

/** The job id of a row's expansion: one job per row while it waits. */
export const pendingJobId = (id: string): string => `b${id}`;

/** Tells the delivery workers a row is waiting (a lost job is the sweeper's to recover). */
export async function enqueueExpansion(services: Services, id: string): Promise<void> {
  await services.queues.queue<DeliveryJob>(DELIVERY_QUEUE).add('expand', { pendingBatch: id }, { jobId: pendingJobId(id) });
}
