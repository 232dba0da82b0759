import type { Knex } from 'knex';
import { isMysql, unionOfReads } from '../db';

/** Domains whose newest event one statement looks up: each is a subquery of the UNION. */
const DOMAINS_PER_STATEMENT = 50;

/**
 * The newest event of each domain since `since` (getdomains' LastActivityAt), from the (domain_id, created_at)
 * index. MariaDB answers a grouped MAX with one seek per domain (a loose index scan). SQLite walked all of each
 * domain's events of the week for it, on every load of the console's Domains page (13 ms at 200,000 events, all of
 * it blocking the embedded gateway's event loop), so there each domain's newest is read as its own seek (0.7 ms).
 */
export async function lastActivity(db: Knex, domainIds: number[], since: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (isMysql(db)) {
    if (!domainIds.length) return out;
    const rows: { domain_id: number; at: unknown }[] = await db('events')
      .whereIn('domain_id', domainIds)
      .where('created_at', '>=', since)
      .groupBy('domain_id')
      .select('domain_id')
      .max({ at: 'created_at' });
    for (const r of rows) out.set(Number(r.domain_id), Number(r.at));
    return out;
  }
  for (let i = 0; i < domainIds.length; i += DOMAINS_PER_STATEMENT) {
    const reads = domainIds
      .slice(i, i + DOMAINS_PER_STATEMENT)
      .map((id) =>
        db('events').where('domain_id', id).where('created_at', '>=', since).orderBy('created_at', 'desc').limit(1).select('domain_id', 'created_at'),
      );
    const rows: { domain_id: number; created_at: number }[] = await unionOfReads(db, reads);
    for (const r of rows) out.set(Number(r.domain_id), Number(r.created_at));
  }
  return out;
}
