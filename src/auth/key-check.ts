import type { Knex } from 'knex';
import { ConfigError } from '../config';
import { Keyring, sealedWith } from './secrets';

/** DKIM keys sampled at start: enough that one damaged row does not decide, few enough to cost nothing. */
const SAMPLE = 20;

/** How many stored DKIM keys the start-up check read, and how many of those no configured key opens. */
export interface KeySample {
  checked: number;
  unreadable: number;
}

/**
 * Refuses to start on a key that opens none of the stored DKIM keys: a mistyped ENCRYPTION_KEY, or a rotation
 * without ENCRYPTION_KEY_PREVIOUS. Started anyway, every delivery of a signing domain would be leased, fail to open its
 * key and go back to wait, again and again, and webhooks would not be signed, with nothing at start to say why.
 * Some but not all unreadable (an old key dropped before `postern reencrypt` finished, a damaged row) starts, and the
 * caller warns: the other domains' mail still goes.
 */
export async function checkKeyOpensSecrets(db: Knex, ring: Keyring): Promise<KeySample> {
  const sealed: string[] = await db('sender_domains').orderBy('id').limit(SAMPLE).pluck('dkim_private_key_enc');
  const unreadable = sealed.filter((s) => sealedWith(s, ring) < 0).length;
  if (!sealed.length || unreadable < sealed.length) return { checked: sealed.length, unreadable };
  throw new ConfigError(
    `ENCRYPTION_KEY opens none of the ${sealed.length} stored DKIM keys checked: it is not the key this database's secrets were sealed with. ` +
      'Set the key they were sealed with; if you are rotating it, put the old key in ENCRYPTION_KEY_PREVIOUS (docs/secrets.md "Rotating ENCRYPTION_KEY")',
  );
}
