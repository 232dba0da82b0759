import type { Request } from 'express';

/**
 * Paths whose segments are credentials, with the route each is logged as. An inbound list webhook's HashedID is all
 * a caller needs to subscribe or unsubscribe addresses, and a tracking token all one needs to unsubscribe (or count a
 * click or open for) its recipient, so a log reader must not learn them. Routes match any case.
 */
const SECRET_PATHS: [RegExp, string][] = [
  [/^\/system\/webhook\/.+$/i, '/system/webhook/:hashedid'],
  [/^\/t\/u\/.+$/i, '/t/u/:token'],
  [/^\/t\/c\/.+$/i, '/t/c/:token'],
  [/^\/t\/o\/.+$/i, '/t/o/:file'],
];

/**
 * The request's path as logs may show it. Read from originalUrl: inside a mounted router (and when a reply finishes
 * there) req.path is relative to the mount, `/<HashedID>` alone.
 */
export function loggedPath(req: Request): string {
  const path = req.originalUrl.split('?')[0];
  for (const [pattern, route] of SECRET_PATHS) if (pattern.test(path)) return route;
  return path;
}
