import type { Db } from '../db';
import { formatTime } from '../auth/users';

export type SuppressionReason = 'manual' | 'hard_bounce' | 'complaint' | 'unsubscribe';

/** The subset of `emails` (any case) that the domain's suppression list holds, lowercase. */
export async function suppressedAmong(db: Db, domainId: number, emails: string[]): Promise<Set<string>> {
  if (!emails.length) return new Set();
  const lower = [...new Set(emails.map((e) => e.toLowerCase()))];
  const found = new Set<string>();
  for (let i = 0; i < lower.length; i += 1000) {
    const rows = await db('suppressions').where({ domain_id: domainId }).whereIn('email', lower.slice(i, i + 1000)).pluck('email');
    for (const e of rows) found.add(String(e).toLowerCase());
  }
  return found;
}

/** Adds (or keeps) an entry; the first reason recorded for an address stays. Returns true when it was new. */
export async function addSuppression(db: Db, domainId: number, email: string, reason: SuppressionReason, detail = ''): Promise<boolean> {
  const inserted = await db('suppressions')
    .insert({ domain_id: domainId, email: email.toLowerCase(), reason, detail: detail.slice(0, 1000), created_at: Date.now() })
    .onConflict(['domain_id', 'email'])
    .ignore();
  return Array.isArray(inserted) ? inserted.length > 0 && Number(inserted[0]) > 0 : Boolean(inserted);
}

export function presentSuppression(row: { id: number; email: string; reason: string; detail: string; created_at: number }) {
  return { SuppressionID: Number(row.id), EmailAddress: row.email, Reason: row.reason, Detail: row.detail, CreatedAt: formatTime(row.created_at) };
}
