import { useEffect, useState } from 'preact/hooks';

/** Hash routes (#/messages/…?Recipient=…): the server serves one page, and a reload keeps the place. */
export interface Route {
  parts: string[];
  query: URLSearchParams;
}

/** A part as typed when it is not valid percent-encoding (`%E0%A4%A`): decodeURIComponent throws, which blanked the page. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function parse(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decoded), query: new URLSearchParams(q) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function go(path: string, query?: Record<string, string | number | undefined | null>): void {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  location.hash = `#/${path}${s ? `?${s}` : ''}`;
}
