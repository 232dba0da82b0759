import type { Db } from '../db';
import { newSenderKey, presentSenderKey, SenderKeyRow } from './credentials';

/** Inserts a new Enabled sender key and returns the reply shape of addapi/replaceapi, with the full key shown once. */
export async function insertSenderKey(db: Db, userId: number, domainId: number, description: string) {
  const { key, hash, last4 } = newSenderKey();
  const now = Date.now();
  const [id] = await db('domain_api_keys').insert({
    user_id: userId,
    domain_id: domainId,
    key_hash: hash,
    key_last4: last4,
    description,
    status: 'Enabled',
    created_at: now,
  });
  const row: SenderKeyRow = { id: Number(id), domain_id: domainId, description, status: 'Enabled', key_last4: last4, created_at: now, last_used_at: null };
  return { NewAPIKeyID: row.id, APIKey: presentSenderKey(row, key) };
}
