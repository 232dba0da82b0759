import type { CommandContext } from '../command';
import { encrypt } from '../auth/secrets';
import { encryptionKey } from './create';
import { dkimRecordValue, generateDkimKey } from './dkim';
import { DomainRow, recordsFor } from './domains';
import { isDeleting } from './deleting';

/** The selector after `current`: its trailing number plus one (key1 → key2), else `<current>2`; never one in `taken`. */
export function nextSelector(current: string, taken: (string | null | undefined)[]): string {
  const m = /^(.*?)(\d+)$/.exec(current);
  const stem = m ? m[1] : current;
  let n = m ? Number(m[2]) + 1 : 2;
  let s = `${stem}${n}`;
  while (taken.includes(s)) s = `${stem}${++n}`;
  return s;
}

export interface Rotation {
  row: DomainRow;
  /** The rotation was already under way: its key and record are answered again, no new key was made. */
  alreadyPending: boolean;
}

/**
 * Starts a DKIM rotation: a fresh key (sealed like every DKIM key) under a new selector, waiting beside the active
 * one. Signing keeps the active key until the new record verifies (src/domains/dns-health.ts). One rotation at a
 * time: while one waits, asking again answers the same key, so a retried request never changes the record to publish.
 * None for a domain being deleted (src/domains/deleting.ts), nor one deleted meanwhile: 'deleting' or 'gone'.
 */
export async function startRotation(ctx: CommandContext, row: DomainRow): Promise<Rotation | 'deleting' | 'gone'> {
  if (isDeleting(row)) return 'deleting';
  if (row.dkim_next_selector) return { row, alreadyPending: true };
  const key = await generateDkimKey();
  const selector = nextSelector(row.dkim_selector, [row.dkim_selector, row.dkim_previous_selector]);
  const now = Date.now();
  const fields = {
    dkim_next_selector: selector,
    dkim_next_private_key_enc: encrypt(key.privateKeyPem, encryptionKey(ctx)),
    dkim_next_public_key: key.publicKeyB64,
    dkim_next_created_at: now,
  };
  const records = recordsFor({ ...row, ...fields }, ctx.config).map((r) => {
    // Keep what the last verification found for the records that were already there.
    const seen = JSON.parse(row.dns_records).find((o: { host: string; purpose: string }) => o.host === r.host && o.purpose === r.purpose);
    return seen && seen.value === r.value ? { ...r, ok: seen.ok, found: seen.found } : r;
  });
  // Conditional: of two concurrent requests one makes the key, the other answers it; and none once a deletion began
  // since `row` was read.
  const n = await ctx
    .db('sender_domains')
    .where({ id: row.id, user_id: row.user_id, dkim_selector: row.dkim_selector })
    .whereNull('dkim_next_selector')
    .whereNull('deleting_at')
    .update({ ...fields, dns_records: JSON.stringify(records), updated_at: now });
  const fresh: DomainRow | undefined = await ctx.db('sender_domains').where({ id: row.id, user_id: row.user_id }).first();
  if (!fresh) return 'gone';
  if (n === 0 && isDeleting(fresh)) return 'deleting';
  if (!fresh.dkim_next_selector) return 'gone';
  return { row: fresh, alreadyPending: n === 0 };
}

/** The TXT record a pending rotation waits for. */
export function pendingRecord(row: DomainRow): { Host: string; Type: 'TXT'; Value: string } | null {
  if (!row.dkim_next_selector || !row.dkim_next_public_key) return null;
  return { Host: `${row.dkim_next_selector}._domainkey.${row.domain}`, Type: 'TXT', Value: dkimRecordValue(row.dkim_next_public_key) };
}
