import type { CommandContext } from '../command';
import { encrypt } from '../auth/secrets';
import { recordsFor } from './domains';

export function encryptionKey(ctx: CommandContext): Buffer {
  if (!ctx.config.encryptionKey) throw new Error('encryption key is not configured');
  return ctx.config.encryptionKey;
}

/** Row fields for a new domain: a fresh DKIM key (sealed) and the record set for the given host settings. */
export async function newDomainFields(
  ctx: CommandContext,
  hostSettings: { domain: string; subdomain: string | null; track_prefix: string | null; track_merge: string | null; track_prefix_disabled: boolean },
) {
  const key = await ctx.newDkimKey();
  const selector = ctx.config.dkimSelector;
  const records = recordsFor({ ...hostSettings, dkim_selector: selector, dkim_public_key: key.publicKeyB64 }, ctx.config);
  return {
    dkim_selector: selector,
    dkim_private_key_enc: encrypt(key.privateKeyPem, encryptionKey(ctx)),
    dkim_public_key: key.publicKeyB64,
    dns_records: JSON.stringify(records),
  };
}

/** Locks the user's row for the rest of the transaction (MySQL); SQLite transactions are already serial. */
export async function lockUserRow(trx: CommandContext['db'], userId: number): Promise<void> {
  const q = trx('users').where({ id: userId }).first('id');
  if (trx.client.config.client === 'mysql2') await q.forUpdate();
  else await q;
}
