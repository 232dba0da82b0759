import type { Knex } from 'knex';

/** Per table, the rows each statement of a kind touched, in order. */
export type Touched = Record<string, number[]>;

/**
 * Runs `work` and answers, per table, the rows each DELETE on it removed meanwhile (`removed`), each UPDATE changed
 * (`changed`) and each SELECT read (`read`), as the store reported them (knex's query-response event; a transaction's
 * statements are reported on its parent instance too). For tests that a large deletion or change goes a run at a
 * time: a single statement over a whole set shows as one big number.
 */
export async function statementsDuring<T>(db: Knex, work: () => Promise<T>): Promise<{ result: T; removed: Touched; changed: Touched; read: Touched }> {
  const removed: Touched = {};
  const changed: Touched = {};
  const read: Touched = {};
  const seen = (response: unknown, query: { method?: string; sql?: string }) => {
    const sql = query.sql ?? '';
    const table = (re: RegExp) => re.exec(sql)?.[1];
    const add = (into: Touched, name: string | undefined, n: number) => name && (into[name] ??= []).push(n);
    if (query.method === 'del') add(removed, table(/^delete from [`"]?(\w+)/i), Number(response));
    else if (query.method === 'update') add(changed, table(/^update [`"]?(\w+)/i), Number(response));
    else if (query.method === 'select' || query.method === 'pluck' || query.method === 'first')
      add(read, table(/\bfrom [`"]?(\w+)/i), Array.isArray(response) ? response.length : response ? 1 : 0);
  };
  db.on('query-response', seen);
  try {
    return { result: await work(), removed, changed, read };
  } finally {
    db.off('query-response', seen);
  }
}

/** `statementsDuring`'s DELETEs alone. */
export async function deletesDuring<T>(db: Knex, work: () => Promise<T>): Promise<{ result: T; removed: Touched }> {
  const { result, removed } = await statementsDuring(db, work);
  return { result, removed };
}

/** The largest number in each table's list, and their sum. */
export function sizes(touched: Touched): Record<string, { max: number; total: number }> {
  return Object.fromEntries(Object.entries(touched).map(([t, ns]) => [t, { max: Math.max(...ns), total: ns.reduce((a, b) => a + b, 0) }]));
}
