import { useEffect, useMemo, useState } from 'preact/hooks';

/** Hash routes (#/messages/…?Recipient=…): the server serves one page, and a reload keeps the place. */
export interface Route {
  parts: string[];
  query: URLSearchParams;
}

/** Fired after writeQuery: history.pushState/replaceState change the address without a hashchange. */
const QUERY_WRITTEN = 'postern:query';

/** A part as typed when it is not valid percent-encoding (`%E0%A4%A`): decodeURIComponent throws, which blanked the page. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function split(hash: string): [string, string] {
  const [path, q = ''] = hash.replace(/^#\/?/, '').split('?');
  return [path, q];
}

function parse(hash: string): Route {
  const [path, q] = split(hash);
  return { parts: path.split('/').filter(Boolean).map(decoded), query: new URLSearchParams(q) };
}

export function useRoute(): Route {
  // Kept as the raw hash so that an event that did not change it (popstate and hashchange both fire on Back) renders nothing.
  const [hash, setHash] = useState(() => location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    const events = ['hashchange', 'popstate', QUERY_WRITTEN];
    for (const e of events) window.addEventListener(e, on);
    return () => events.forEach((e) => window.removeEventListener(e, on));
  }, []);
  return useMemo(() => parse(hash), [hash]);
}

export function go(path: string, query?: Record<string, string | number | undefined | null>): void {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  location.hash = `#/${path}${s ? `?${s}` : ''}`;
}

/**
 * Replaces the query of the current route: `push` makes a history entry (Back returns to the old query), `replace`
 * does not (typing). The address is a bare `#/…` fragment, so it can only ever point into this page.
 */
export function writeQuery(query: URLSearchParams, how: 'push' | 'replace'): void {
  const [path, old] = split(location.hash);
  const s = query.toString();
  if (s === old) return;
  const url = `#/${path}${s ? `?${s}` : ''}`;
  if (how === 'push') history.pushState(history.state, '', url);
  else history.replaceState(history.state, '', url);
  window.dispatchEvent(new Event(QUERY_WRITTEN));
}
