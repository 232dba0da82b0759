import crypto from 'node:crypto';
import type { Db } from '../db';
import type { Knex } from 'knex';
import { Keyring, open, seal } from '../auth/secrets';
import { isUniqueViolation } from '../db';
import type { SigningSecret } from './formats';
import { domainUnderAccountLock, unlessDeleting } from '../domains/deleting';
import { lockUserRow } from '../auth/users';

/**
 * Each domain's webhook signing key: 64 uppercase hex characters (32 random bytes), as Octeth shows it.
 * The HMAC-SHA256 key is the key's text itself (its 64 ASCII bytes), which is what `hash_hmac('sha256', …,
 * $SigningKey)` or `createHmac('sha256', SigningKey)` use, and what the standardwebhooks libraries use with
 * `new Webhook(SigningKey, { format: 'raw' })`. The same key in Standard Webhooks' own notation
 * (`whsec_` + base64 of those bytes) is returned beside it as SigningSecret: `new Webhook(SigningSecret)`.
 * Stored encrypted (it must be recoverable to sign); created on first use, replaced by regeneratesigningkey.
 */
export function newSigningKey(): string {
  return crypto.randomBytes(32).toString('hex').toUpperCase();
}

export function standardSecret(key: string): string {
  return `whsec_${Buffer.from(key, 'ascii').toString('base64')}`;
}

/**
 * What signs a subscription's calls: its own `whsec_…` secret (webhook.create), else its domain's SigningKey
 * (Octeth's addwebhook rows).
 */
export async function secretOf(db: Db, ring: Keyring, hook: { domain_id: number | null; secret_enc: string | null }, now = Date.now()): Promise<SigningSecret> {
  if (hook.secret_enc) return { kind: 'subscription', secret: open(hook.secret_enc, ring) };
  const row = await db('webhook_signing_keys').where({ domain_id: hook.domain_id }).first('key_enc', 'previous_key_enc', 'previous_until');
  if (!row) return { kind: 'domain', key: await signingKey(db, ring, Number(hook.domain_id)) };
  const key = open(row.key_enc, ring);
  const inGrace = row.previous_key_enc && Number(row.previous_until) > now;
  return inGrace ? { kind: 'domain', key, previousKey: open(row.previous_key_enc, ring) } : { kind: 'domain', key };
}

/** The domain's key, created on first use (two concurrent first uses agree on one). */
export async function signingKey(db: Db | Knex.Transaction, ring: Keyring, domainId: number): Promise<string> {
  const row = await db('webhook_signing_keys').where({ domain_id: domainId }).first('key_enc');
  if (row) return open(row.key_enc, ring);
  const now = Date.now();
  try {
    await db('webhook_signing_keys').insert({ domain_id: domainId, key_enc: seal(newSigningKey(), ring), created_at: now, updated_at: now });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  const made = await db('webhook_signing_keys').where({ domain_id: domainId }).first('key_enc');
  return open(made.key_enc, ring);
}

/**
 * The domain's key for its owner's listing (getwebhooks): made on first use as signingKey makes it, but under the
 * account's row lock and only for a domain neither being deleted nor gone since the caller found it
 * (src/domains/deleting.ts): null then, and nothing written. A listing is a read: it answers, where a write refuses.
 */
export async function listedSigningKey(db: Db, ring: Keyring, domain: { id: number; user_id: number }): Promise<string | null> {
  const row = await db('webhook_signing_keys').where({ domain_id: domain.id }).first('key_enc');
  if (row) return open(row.key_enc, ring);
  return db.transaction(async (trx) => {
    await lockUserRow(trx, Number(domain.user_id));
    return (await domainUnderAccountLock(trx, domain.id)) === 'live' ? signingKey(trx, ring, domain.id) : null;
  });
}

/**
 * Replaces the domain's key; null when the domain vanished meanwhile (nothing stored). The key it replaces signs
 * too for `graceMs` (secretOf); a second regeneration within the grace keeps the first old key, which is the one
 * receivers may still hold, and gives it a new grace. None for a domain being deleted: throws `deleting()`, nothing
 * stored (read under the account's row lock, src/domains/deleting.ts).
 */
export async function rotateSigningKey(
  db: Db,
  ring: Keyring,
  domain: { id: number; user_id: number },
  graceMs: number,
  deleting: () => Error,
): Promise<string | null> {
  const domainId = domain.id;
  const key = newSigningKey();
  const now = Date.now();
  const sealed = seal(key, ring);
  // A domain deleted between the ownership check and this write: nothing stored, null.
  const gone = new Error('the domain was deleted meanwhile');
  const refusal = (state: 'deleting' | 'gone') => (state === 'gone' ? gone : deleting());
  try {
    await unlessDeleting(db, domain, refusal, async (trx) => {
      const q = trx('webhook_signing_keys').where({ domain_id: domainId }).first('key_enc', 'previous_key_enc', 'previous_until');
      const old = trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q;
      if (!old) {
        // No key yet (none was ever shown, so none to keep); a first use at the same moment may insert one too.
        await trx('webhook_signing_keys')
          .insert({ domain_id: domainId, key_enc: sealed, created_at: now, updated_at: now })
          .onConflict('domain_id')
          .merge({ key_enc: sealed, updated_at: now });
        return;
      }
      const previous = old.previous_key_enc && Number(old.previous_until) > now ? old.previous_key_enc : old.key_enc;
      await trx('webhook_signing_keys')
        .where({ domain_id: domainId })
        .update(
          graceMs > 0
            ? { key_enc: sealed, previous_key_enc: previous, previous_until: now + graceMs, updated_at: now }
            : { key_enc: sealed, previous_key_enc: null, previous_until: null, updated_at: now },
        );
    });
  } catch (err) {
    if (err === gone) return null;
    throw err;
  }
  // Read back: a domain deleted right after the write took its key with it.
  const stored = await db('webhook_signing_keys').where({ domain_id: domainId }).first('key_enc');
  return stored?.key_enc === sealed ? key : null;
}
