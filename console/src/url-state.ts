import { useEffect, useState } from 'preact/hooks';
import { useRoute, writeQuery } from './router';

/**
 * A list page's filters live in the address (#/queue?state=held&q=gmail.com&page=2), so a reload, Back after opening
 * a row, or a link sent to a colleague shows the same list. The address is input like any other: a value that is not
 * one the page offers falls back to its default (it is never an error), and values reach the page only as strings
 * it renders as text.
 */

/** What a filter accepts: one of these values (the first is the default), a pattern, or free text. */
export type Accepts = readonly string[] | RegExp | 'text';

/** Longer than any address, domain or tag someone searches for; a longer value in a link is ignored. */
const MAX_TEXT = 256;
/** A stack of cursors (several per page) may be longer than typed text, but not without bound. */
export const MAX_VALUE = 4096;

export const NUMBER: Accepts = /^[1-9]\d{0,8}$/;
export const DAY: Accepts = /^\d{4}-\d\d-\d\d$/;

const fallback = (a: Accepts) => (Array.isArray(a) ? a[0] : '');

function accepted(a: Accepts, v: string): boolean {
  if (a === 'text') return v.length <= MAX_TEXT;
  if (Array.isArray(a)) return a.includes(v);
  return v.length <= MAX_VALUE && (a as RegExp).test(v);
}

export interface UrlState<K extends string> {
  /** What the address says now: the form shows these. */
  values: Record<K, string>;
  /** What the list shows: `values`, except that typing counts once it pauses. */
  applied: Record<K, string>;
  /** A discrete choice (a select, a pager button): a new history entry, applied at once. */
  push(patch: Partial<Record<K, string>>): void;
  /** Typing: rewrites the current entry (no entry per keystroke), applied after a pause. */
  type(patch: Partial<Record<K, string>>): void;
  /** Enter or Search: applies what was typed now. */
  apply(): void;
}

const SETTLE_MS = 300;

export function useUrlState<K extends string>(fields: Record<K, Accepts>): UrlState<K> {
  const { query } = useRoute();
  const keys = Object.keys(fields) as K[];
  const values = {} as Record<K, string>;
  for (const k of keys) {
    const v = query.get(k);
    values[k] = v !== null && accepted(fields[k], v) ? v : fallback(fields[k]);
  }
  const key = JSON.stringify(values);
  // While typing: what was applied before the first keystroke, so each keystroke does not fetch a list.
  const [lag, setLag] = useState<Record<K, string> | null>(null);
  useEffect(() => {
    if (!lag) return;
    const t = setTimeout(() => setLag(null), SETTLE_MS);
    return () => clearTimeout(t);
  }, [key, lag !== null]);
  // Other parameters of the route (the admin's `user`) are kept as they are.
  const write = (patch: Partial<Record<K, string>>, how: 'push' | 'replace') => {
    const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
    for (const k of Object.keys(patch) as K[]) {
      const v = patch[k] ?? '';
      if (v === fallback(fields[k])) q.delete(k);
      else q.set(k, v);
    }
    writeQuery(q, how);
  };
  return {
    values,
    applied: lag ?? values,
    push(patch) {
      setLag(null);
      write(patch, 'push');
    },
    type(patch) {
      if (!lag) setLag(values);
      write(patch, 'replace');
    },
    apply: () => setLag(null),
  };
}

/** Offset paging and a search box (`q`), plus the page's other filters, all in the address; a new filter starts at page 1. */
export function usePagedSearch<K extends string = never>(size: number, extra = {} as Record<K, Accepts>) {
  type All = K | 'q' | 'page';
  const s = useUrlState<All>({ ...extra, q: 'text', page: NUMBER } as Record<All, Accepts>);
  const first = { page: '' } as Partial<Record<All, string>>;
  return {
    ...s,
    push: (patch: Partial<Record<All, string>>) => s.push({ ...first, ...patch }),
    type: (patch: Partial<Record<All, string>>) => s.type({ ...first, ...patch }),
    /** The applied search, as the server is asked for it. */
    term: s.applied.q.trim(),
    from: (Number(s.applied.page || 1) - 1) * size,
    setFrom: (n: number) => s.push({ page: n > 0 ? String(Math.floor(n / size) + 1) : '' } as Partial<Record<All, string>>),
  };
}

export type PagedSearch = ReturnType<typeof usePagedSearch<string>>;
