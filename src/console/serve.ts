import fs from 'node:fs';
import path from 'node:path';
import express, { NextFunction, Request, Response, Router } from 'express';
import { projectRoot } from '../project-root';

/**
 * The web console's static files (built by `npm run build` from console/ into dist/console) at /console/.
 * The console is a client of /api.php like any other, so this serves files only, with headers that keep
 * the page from running anything but its own bundled script:
 * - script-src 'self' and no inline script: injected markup cannot run code;
 * - style-src also allows inline styles, because a template preview (a sandboxed srcdoc iframe) inherits this
 *   policy and email HTML is styled inline; a style cannot run code;
 * - img-src 'self' data: keeps a template preview from calling remote trackers;
 * - frame-src 'none': the previews are srcdoc frames, which it does not govern, while a click in one that would
 *   navigate the frame is refused before any request (with 'self', a click on a same-origin tracking link in a
 *   captured message recorded a click and an open nobody made);
 * - frame-ancestors 'none' and X-Frame-Options DENY against clickjacking; no referrer leaves the page.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function consoleDir(): string {
  return path.join(projectRoot(), 'dist', 'console');
}

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  next();
}

export function consoleRoutes(dir = consoleDir()): Router {
  const router = express.Router();
  // Without the slash, relative asset URLs would miss; express matches '/console' to both forms, so look.
  router.get('/console', (req, res, next) => (req.path === '/console' ? res.redirect(301, '/console/') : next()));
  router.use('/console', securityHeaders);
  router.use(
    '/console/assets',
    // File names carry a content hash: they never change.
    express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: true }),
  );
  router.get(['/console/', '/console/index.html'], (_req, res) => {
    const index = path.join(dir, 'index.html');
    if (!fs.existsSync(index)) {
      res.status(503).type('text/plain').send('The console is not built: run `npm run build` (npm start does it).\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  router.use('/console', express.static(dir, { index: false, maxAge: '1h' }));
  return router;
}
