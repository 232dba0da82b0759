import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';

/**
 * What this module reads of a layer of an express 5 router (the `router` package, 2.x): the path it was given.
 * Without one (another router version), nothing is pruned.
 */
type LayerPaths = { rawPath?: unknown }[];

/** path-to-regexp 8's special characters: a path's static part ends at the first of them. */
const SPECIAL = /[:*{}()[\]?+!\\]/;

/**
 * The lowercase static beginnings of every path the router's layers were given, or null when some layer can match
 * any path (a middleware mounted without a path, a RegExp path, a path that starts with a parameter).
 */
export function staticPrefixes(router: Router): string[] | null {
  const out = new Set<string>();
  for (const layer of router.stack as unknown as LayerPaths) {
    for (const path of Array.isArray(layer.rawPath) ? layer.rawPath.flat(Infinity) : [layer.rawPath]) {
      if (typeof path !== 'string') return null;
      const cut = path.search(SPECIAL);
      // Without the trailing slash: routes match without it (strict routing is off).
      const prefix = (cut < 0 ? path : path.slice(0, cut)).replace(/\/+$/, '').toLowerCase();
      // Non-ASCII would need the regular expression's own case folding: such a router is always entered.
      if (prefix === '' || !/^[\x20-\x7e]*$/.test(prefix)) return null;
      out.add(prefix);
    }
  }
  return [...out];
}

/**
 * The router, entered only by requests whose path begins with the static part of one of its paths. Express 5 tries
 * each layer of each mounted router in turn (a regular expression apiece) and, when none matches, leaves the router
 * through a setImmediate: `POST /api/v1/email` went through eight routers (health, docs, console, tracking, the
 * legacy door, the platform's two) before its own, some 40 expressions and 8 event-loop turns per request.
 * Routes still match as before: a path can only match a route whose static beginning it starts with (routing is
 * case-insensitive, so both sides are lowercased), so a request skipped here is one no layer would have taken.
 * The prefixes are read at the first request, once the router's routes are all defined.
 */
export function pruned(router: Router): RequestHandler {
  let prefixes: string[] | null | undefined;
  return function prunedRouter(req: Request, res: Response, next: NextFunction): void {
    if (prefixes === undefined) prefixes = staticPrefixes(router);
    if (prefixes === null || startsWithOne(req.path.toLowerCase(), prefixes)) router(req, res, next);
    else next();
  };
}

function startsWithOne(path: string, prefixes: string[]): boolean {
  for (const p of prefixes) if (path.startsWith(p)) return true;
  return false;
}
