import type { Knex } from 'knex';
import type { StsMode, StsPolicy, StsStore } from './mta-sts';

/** MTA-STS policies kept in the database (mta_sts_policies), so a restarted worker still applies them. */
export function createStsStore(db: Knex): StsStore {
  return {
    async get(domain, now) {
      const row = await db('mta_sts_policies').where({ domain }).where('expires_at', '>', now).first();
      if (!row) return null;
      return { id: row.policy_id, mode: row.mode as StsMode, mx: String(row.mx).split('\n').filter(Boolean), expiresAt: Number(row.expires_at) };
    },
    async put(domain, p: StsPolicy, now) {
      const row = { domain, policy_id: p.id, mode: p.mode, mx: p.mx.join('\n'), expires_at: p.expiresAt, fetched_at: now };
      await db('mta_sts_policies').insert(row).onConflict('domain').merge();
      // Expired rows go whenever one is written (a new policy id, or a policy fetched again daily), so the table holds
      // live policies only.
      await db('mta_sts_policies').where('expires_at', '<=', now).delete();
    },
  };
}
