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
