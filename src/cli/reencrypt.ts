import type { Knex } from 'knex';
import { decrypt, Keyring, sealedWith, seal } from '../auth/secrets';

/** Every secret stored sealed with ENCRYPTION_KEY: table, its key column, and the sealed columns. */
export const SEALED_COLUMNS: { table: string; key: string; columns: string[] }[] = [
  { table: 'sender_domains', key: 'id', columns: ['dkim_private_key_enc', 'dkim_next_private_key_enc', 'dkim_previous_private_key_enc'] },
  { table: 'webhooks', key: 'id', columns: ['secret_enc'] },
  { table: 'webhook_signing_keys', key: 'domain_id', columns: ['key_enc', 'previous_key_enc'] },
  { table: 'list_webhooks', key: 'id', columns: ['secret_enc'] },
];

export interface ReencryptReport {
  /** Sealed values read. */
  Checked: number;
  /** Sealed again with ENCRYPTION_KEY (they were sealed with a key in ENCRYPTION_KEY_PREVIOUS). */
  Resealed: number;
  /** Opened by no key given: they stay as they are, and what needs them (signing, webhooks) fails until the key is found. */
  Unreadable: { Table: string; Column: string; Id: number }[];
  /**
   * Still sealed with a previous key when the run ended (read again after it): written meanwhile by a process that
   * still runs with the old ENCRYPTION_KEY, or moved by a DKIM key's promotion while it was being resealed.
   */
  Remaining: number;
}

/**
 * `postern reencrypt`: seals every stored secret (DKIM keys, webhook secrets and signing keys, list webhook ids) with
 * ENCRYPTION_KEY, opening it with a key from ENCRYPTION_KEY_PREVIOUS. Safe while the gateway runs and to run again:
 * each value is replaced only if it is still the one read (a domain's DKIM key rotated meanwhile stays as the
 * rotation wrote it), and one already sealed with ENCRYPTION_KEY is left alone. `page` rows per read.
 */
export async function reencryptSecrets(db: Knex, ring: Keyring, page = 500): Promise<ReencryptReport> {
  const report: ReencryptReport = { Checked: 0, Resealed: 0, Unreadable: [], Remaining: 0 };
  await walkSealed(db, page, async (table, key, column, id, sealed) => {
    report.Checked++;
    const which = sealedWith(sealed, ring);
    if (which === 0) return;
    if (which < 0) return void report.Unreadable.push({ Table: table, Column: column, Id: id });
    const plain = decrypt(sealed, ring.previousEncryptionKeys[which - 1]);
    report.Resealed += await db(table)
      .where({ [key]: id, [column]: sealed })
      .update({ [column]: seal(plain, ring) });
  });
  // Read once more: the old key may go only when nothing is left under it.
  await walkSealed(db, page, async (_table, _key, _column, _id, sealed) => {
    if (sealedWith(sealed, ring) > 0) report.Remaining++;
  });
  return report;
}

/** Every stored sealed value, `page` rows per read, in key order. */
async function walkSealed(
  db: Knex,
  page: number,
  each: (table: string, key: string, column: string, id: number, sealed: string) => Promise<void>,
): Promise<void> {
  for (const { table, key, columns } of SEALED_COLUMNS) {
    for (let after = 0; ;) {
      const rows: Record<string, unknown>[] = await db(table)
        .where(key, '>', after)
        .orderBy(key)
        .limit(page)
        .select(key, ...columns);
      for (const row of rows)
        for (const column of columns) {
          const sealed = row[column];
          if (typeof sealed === 'string' && sealed !== '') await each(table, key, column, Number(row[key]), sealed);
        }
      if (rows.length < page) break;
      after = Number(rows[rows.length - 1][key]);
    }
  }
}
