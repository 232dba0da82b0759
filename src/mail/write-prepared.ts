import { parseTags } from './tags';
import { affectedRows, BatchTx, insertRows, placeholders, sql, Stmt } from '../db';
import { encodeContent } from './stored-content';
import { EventInput, eventsAfterInsert, recordEvents } from '../events/record';
import type { PendingEntry } from './pending-batches';
import type { Prepared } from './prepare';

/** Multi-row insert batches of at most `rows` rows and about `bytes` bytes (MySQL's packet limit). */
function chunksOf<T>(items: T[], rows: number, bytes: number, size: (t: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let curBytes = 0;
  for (const it of items) {
    const b = size(it);
    if (cur.length && (cur.length >= rows || curBytes + b > bytes)) {
      out.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(it);
    curBytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Tags of each prepared message, so the rollups need not read back rows this transaction just wrote. */
function tagsOfPrepared(ok: Prepared[]): Map<string, string[]> {
  return new Map(ok.map((p) => [p.messageId, parseTags(p.message.tags)]));
}

/**
 * Raised inside a transaction (so it rolls back) when guard statements touched no row: an Idempotency-Key lease
 * taken over, or a pending batch another expander claimed first. `indexes` are the failed guards' positions.
 */
export class GuardLost extends Error {
  constructor(readonly indexes: number[]) {
    super('guard statement touched no row');
  }
}

/**
 * Writes prepared messages (of any senders) with one delivery per recipient and a `queued` (or `scheduled`)
 * event per delivery, plus a `suppressed` event per dropped recipient, inside the caller's transaction.
 * `guards` go first and must each touch exactly one row, else GuardLost. With `oneRowCheck` (MySQL, where the
 * delivery ids follow from the INSERTs), that statement follows each guard instead, failing the round trip at once
 * when the guard touched no row (ER_SUBQUERY_NO_1_ROW, not GuardLost), so the COMMIT goes in the same round trip.
 * Returns the delivery ids with their message.
 */
export async function writePrepared(
  tx: BatchTx,
  entries: PendingEntry[],
  guards: Stmt[],
  oneRowCheck?: () => Stmt,
): Promise<{ id: number; messageId: string }[]> {
  const trx = tx.q;
  const ok = entries.map((e) => e.p);
  for (const p of ok) if (p.stored) p.message.content = encodeContent(p.stored);
  const nowOf = new Map(entries.map((e) => [e.p.messageId, e.now]));
  // Idempotent replies first (each must still hold its lease), then the rows, then reading back the delivery ids:
  // one round trip where the database allows.
  const checked = !!oneRowCheck && tx.idStep !== null && guards.length > 0;
  const stmts: Stmt[] = checked ? guards.flatMap((g) => [g, oneRowCheck!()]) : [...guards];
  for (const chunk of chunksOf(
    ok.map((p) => p.message),
    200,
    4 << 20,
    (m) => (m.mime as Buffer | null)?.length ?? (m.content as Buffer | string).length,
  ))
    stmts.push(insertRows(trx, 'messages', chunk));
  const deliveryRows = ok.flatMap((p) => {
    const now = nowOf.get(p.messageId)!;
    return p.recipients.map((r) => ({
      message_id: p.messageId,
      user_id: p.message.user_id,
      domain_id: p.message.domain_id,
      recipient: r.email,
      recipient_domain: r.email.split('@')[1].toLowerCase(),
      kind: r.kind,
      status: p.scheduled ? 'scheduled' : 'queued',
      attempts: 0,
      next_attempt_at: (p.message.send_at as number | null) ?? now,
      created_at: now,
      updated_at: now,
      track_id: r.trackId ?? null,
      mime: r.mime ?? null,
    }));
  });
  const deliveryChunks = chunksOf(deliveryRows, 500, 4 << 20, (r) => r.mime?.length ?? 0);
  if (tx.idStep !== null) return writeKnownIds(tx, ok, nowOf, stmts, checked ? 0 : guards.length, deliveryChunks, tx.idStep);
  for (const chunk of deliveryChunks) stmts.push(insertRows(trx, 'deliveries', chunk));
  const writes = stmts.length;
  for (let i = 0; i < ok.length; i += 1000) {
    const some = ok.slice(i, i + 1000).map((p) => p.messageId);
    stmts.push(sql(trx, 'select `id`, `message_id`, `recipient`, `status` from `deliveries` where `message_id` in ' + placeholders(some.length), some));
  }
  const results = await tx.run(stmts);
  const lost = guards.flatMap((_, i) => (affectedRows(results[i]) !== 1 ? [i] : []));
  if (lost.length) throw new GuardLost(lost);
  const ids = results.slice(writes).flat() as { id: number; message_id: string; recipient: string; status: string }[];
  const byMessage = new Map(ok.map((p) => [p.messageId, p]));
  const events: EventInput[] = ids.map((d) => {
    const m = byMessage.get(d.message_id)!.message;
    return {
      message_id: d.message_id,
      delivery_id: Number(d.id),
      domain_id: Number(m.domain_id),
      user_id: Number(m.user_id),
      type: d.status === 'scheduled' ? 'scheduled' : 'queued',
      created_at: nowOf.get(d.message_id)!,
      data: { recipient: d.recipient },
    };
  });
  events.push(...droppedEvents(ok, nowOf));
  await recordEvents(trx, events, { tags: tagsOfPrepared(ok) }, tx);
  return ids.map((d) => ({ id: Number(d.id), messageId: d.message_id }));
}

/** A `suppressed` event per recipient dropped for being on the suppression list. */
function droppedEvents(ok: Prepared[], nowOf: Map<string, number>): EventInput[] {
  return ok.flatMap((p) =>
    p.dropped.map((email) => ({
      message_id: p.messageId,
      delivery_id: null,
      domain_id: Number(p.message.domain_id),
      user_id: Number(p.message.user_id),
      type: 'suppressed',
      created_at: nowOf.get(p.messageId)!,
      data: { recipient: email },
    })),
  );
}

type DeliveryRow = { message_id: string; user_id: unknown; domain_id: unknown; recipient: string; status: string; created_at: number };

/**
 * writePrepared where the deliveries' ids follow from their INSERTs' results (BatchTx.idStep): the events go in
 * the same round trip as the rows (eventsAfterInsert), and so does the COMMIT when no guard needs checking first,
 * instead of reading the ids back and sending the events and the COMMIT in a second round trip (one of the two
 * round trips of every accept group, which is most of a single send's wait).
 */
async function writeKnownIds(
  tx: BatchTx,
  ok: Prepared[],
  nowOf: Map<string, number>,
  stmts: Stmt[],
  guards: number,
  chunks: DeliveryRow[][],
  idStep: number,
): Promise<{ id: number; messageId: string }[]> {
  const eventOf = (d: DeliveryRow, position: number): EventInput => ({
    message_id: d.message_id,
    delivery_id: position,
    domain_id: Number(d.domain_id),
    user_id: Number(d.user_id),
    type: d.status === 'scheduled' ? 'scheduled' : 'queued',
    created_at: d.created_at,
    data: { recipient: d.recipient },
  });
  const inserts = chunks.map((rows) => ({ insert: insertRows(tx.q, 'deliveries', rows), events: rows.map(eventOf) }));
  const first = stmts.length; // each chunk's INSERT, then its SET and, when it has events, their INSERT
  stmts.push(...(await eventsAfterInsert(tx.q, inserts, droppedEvents(ok, nowOf), idStep, { tags: tagsOfPrepared(ok) })));
  const results = guards ? await tx.run(stmts) : await tx.commit(stmts);
  const lost = results.slice(0, guards).flatMap((r, i) => (affectedRows(r) !== 1 ? [i] : []));
  if (lost.length) throw new GuardLost(lost);
  const out: { id: number; messageId: string }[] = [];
  let at = first;
  for (const rows of chunks) {
    // A plain multi-row INSERT (no IGNORE) makes every row or fails: nothing to check once committed.
    const head = results[at] as { insertId: number };
    rows.forEach((d, i) => out.push({ id: Number(head.insertId) + i * idStep, messageId: d.message_id }));
    at += rows.length ? 3 : 2;
  }
  return out;
}
