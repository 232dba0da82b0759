import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import { commands } from '../../commands';
import { projectRoot } from '../validation';
import { statusFor, V1_ROUTES } from '../v1/router';
import { buildOpenApi, dialectTables } from './openapi';

/** The document from the project's own tables: the build writes it to dist/openapi.json (scripts/build-openapi.js). */
export function composeOpenApi(): Record<string, unknown> {
  const root = projectRoot();
  const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return buildOpenApi({
    commands,
    schemaDir: path.join(root, 'schemas'),
    version,
    tables: [{ name: 'v1', routes: V1_ROUTES, statusFor }, ...dialectTables(path.join(__dirname, '..', 'dialects'))],
  });
}

/** dist/openapi.json beside the compiled code; when running from sources (tests), composed at first use. */
function loadDocument(): string {
  const built = path.join(__dirname, '..', '..', 'openapi.json');
  return fs.existsSync(built) ? fs.readFileSync(built, 'utf8') : JSON.stringify(composeOpenApi());
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Postern API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// A file, not an inline script, so the page works under a strict Content-Security-Policy.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true, docExpansion: 'list', filter: true });\n`;

/** GET /openapi.json and a readable /docs page (Swagger UI from npm, served from this process: no CDN). */
export function docsRoutes(): express.Router {
  const router = express.Router();
  let document: string | null = null;
  router.get('/openapi.json', (_req, res) => {
    document ??= loadDocument();
    res.type('application/json').send(document);
  });
  const csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
  router.get(['/docs', '/docs/'], (_req, res) => {
    res.setHeader('Content-Security-Policy', csp);
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use('/docs/assets', express.static(path.dirname(require.resolve('swagger-ui-dist/package.json')), { index: false, maxAge: '1d' }));
  return router;
}
