import type { Knex } from 'knex';

/**
 * Runs `work` and answers, per table, the rows each DELETE on it removed meanwhile, as the store reported them (knex's
 * query-response event; a transaction's statements are reported on its parent instance too). For tests that a large
 * deletion goes a run at a time: a single DELETE of a whole set shows as one big number.
 */
export async function deletesDuring<T>(db: Knex, work: () => Promise<T>): Promise<{ result: T; removed: Record<string, number[]> }> {
  const removed: Record<string, number[]> = {};
  const seen = (response: unknown, query: { method?: string; sql?: string }) => {
    const table = query.method === 'del' ? /^delete from [`"]?(\w+)/i.exec(query.sql ?? '')?.[1] : undefined;
    if (table) (removed[table] ??= []).push(Number(response));
  };
  db.on('query-response', seen);
  try {
    return { result: await work(), removed };
  } finally {
    db.off('query-response', seen);
  }
}

/** The largest number in each table's list, and their sum. */
export function sizes(removed: Record<string, number[]>): Record<string, { max: number; total: number }> {
  return Object.fromEntries(Object.entries(removed).map(([t, ns]) => [t, { max: Math.max(...ns), total: ns.reduce((a, b) => a + b, 0) }]));
}
