import type { Services } from '../command';
import { quoteId, runInTurn, sql } from '../db';
import { settlePending } from './expand-batches';
import { PRESENTED_MESSAGE_COLUMNS } from './lookup';

/**
 * One statement: the message (the named columns only; its MIME and stored content are the worker's, up to MBs)
 * and whether the user has pending batches. Read together, the two are one snapshot: a message being expanded right
 * now is either still a pending row or already written, never neither (two statements could miss it between them).
 */
const findText = (columns: string[]) =>
  `select ${columns.map((c) => `m.${quoteId(c)}`).join(', ')},` +
  ' exists(select 1 from `pending_batches` where `user_id` = ?) as `pending`' +
  ' from (select 1 as `probe`) as `probe` left join `messages` as m on m.`id` = ? and m.`user_id` = ?';

/** What a lookup reads of a message: what presentMessage shows, or (a cancel) only its id; each with the domain its scope is checked on. */
const FIND_TEXTS = {
  presented: findText([...PRESENTED_MESSAGE_COLUMNS, 'domain_id']),
  scope: findText(['id', 'domain_id']),
};

/**
 * A message of the user by id, or null, as if every batch accepted before the call were written (the dispatcher's
 * settle, src/mail/expand-batches.ts): found, it is written, deliveries and events included (one expansion writes
 * them all), so nothing is settled; only a miss while batches are pending settles them and looks again. A lookup
 * of an unknown id thus costs one indexed statement, not a pending-row read and then a message read.
 */
export async function findMessage(
  services: Services,
  userId: number,
  id: string,
  columns: keyof typeof FIND_TEXTS = 'presented',
): Promise<Record<string, unknown> | null> {
  const text = FIND_TEXTS[columns];
  const read = async () => (await runInTurn([sql(services.db, text, [userId, id, userId])]))[0] as Record<string, unknown>[];
  let [row] = await read();
  if (row.id === null && Number(row.pending)) {
    await settlePending(services, userId);
    [row] = await read();
  }
  return row.id === null ? null : row;
}
