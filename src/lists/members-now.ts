import { placeholders, sql } from '../db';
import { Coalescer } from '../coalesce';
import type { Store } from '../store/store';
import { STATUS } from './subscribers';

type Lookup = { listId: number; emails: string[] };

/**
 * The subset of `emails` (any case; answered lowercase) that are not subscribed members of the list now: unsubscribed,
 * pending opt-in, deleted from it, or never on it. The status rule of a campaign page's read (src/lists/api.ts
 * eligibleMembers: only `Subscribed` members are sent to); its suppression half is suppressedAmong's. Read along the
 * (list_id, status, email) index, which answers it alone.
 */
export async function notSubscribedAmong(store: Store, listId: number, emails: string[]): Promise<Set<string>> {
  const lower = [...new Set(emails.map((e) => e.toLowerCase()))];
  const stmts = [];
  for (let i = 0; i < lower.length; i += 1000) {
    const some = lower.slice(i, i + 1000);
    stmts.push(
      sql(store.db, 'select `email` from `subscribers` where `list_id` = ? and `status` = ? and `email` in ' + placeholders(some.length), [
        listId,
        STATUS.subscribed,
        ...some,
      ]),
    );
  }
  const subscribed = new Set<string>();
  for (const rows of await store.runTogether(stmts)) for (const r of rows as { email: string }[]) subscribed.add(String(r.email).toLowerCase());
  return new Set(lower.filter((e) => !subscribed.has(e)));
}

/**
 * notSubscribedAmong for the worker's check before a campaign's or list send's copy is retried or sent late (src/delivery/suppressed-since.ts):
 * lookups made at the same time are answered by one query per list (a campaign's copies share theirs).
 */
export function notSubscribedAmongShared(store: Store, listId: number, emails: string[]): Promise<Set<string>> {
  if (!emails.length) return Promise.resolve(new Set());
  const c = store.batchers.get(
    'list-members',
    () =>
      new Coalescer<Lookup, Set<string>>(
        async (items) => {
          const groups = new Map<number, string[]>();
          for (const it of items) {
            const group = groups.get(it.listId);
            if (group) group.push(...it.emails);
            else groups.set(it.listId, [...it.emails]);
          }
          const found = new Map<number, Set<string>>();
          for (const [listId, all] of groups) found.set(listId, await notSubscribedAmong(store, listId, all));
          return items.map((it) => {
            const gone = found.get(it.listId)!;
            return new Set(it.emails.map((e) => e.toLowerCase()).filter((e) => gone.has(e)));
          });
        },
        { name: 'list-members', maxItems: 500, maxInFlight: 2, overlapAfterMs: store.groupOverlapMs },
      ),
  );
  return c.submit({ listId, emails });
}
