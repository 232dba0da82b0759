import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import { commands } from '../../commands';
import { projectRoot } from '../project-root';
import { statusFor, V1_ROUTES } from '../v1/router';
import { buildOpenApi, dialectTables } from './openapi';

/** The swagger-ui-dist files PAGE loads. */
const DOC_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'];

/**
 * A command's one-line summary from the doc comment at the top of commands/<name>.ts (`name — what it does. …`):
 * the sources are there at build time; without them the name alone is shown.
 */
export function commandSummaries(dir: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const file = path.join(dir, `${name}.ts`);
    if (!fs.existsSync(file)) continue;
    const doc = /^\/\*\*([\s\S]*?)\*\//
      .exec(fs.readFileSync(file, 'utf8'))?.[1]
      .replace(/^\s*\*\s?/gm, ' ')
      .replace(/\s+/g, ' ');
    const what = doc ? /—\s*(.+?)(?:;|\.\s|\. ?$| Errors|$)/.exec(doc)?.[1] : undefined;
    if (what) out[name] = what.length > 110 ? `${what.slice(0, 107)}…` : what;
  }
  return out;
}

/** The document from the project's own tables: the build writes it to dist/openapi.json (scripts/build-openapi.js). */
export function composeOpenApi(): Record<string, unknown> {
  const root = projectRoot();
  const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return buildOpenApi({
    commands,
    schemaDir: path.join(root, 'schemas'),
    version,
    summaries: commandSummaries(path.join(root, 'commands'), Object.keys(commands)),
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
// Sections start collapsed: with ~170 operations, Swagger UI 5 stops rendering part-way when every section is
// expanded at once ('list'), and a list of section names is easier to scan anyway.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true, docExpansion: 'none', filter: true });\n`;

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
  // Only the files /docs loads: the package also holds a demo index.html (with its own script, loading a third-party
  // API description) and a dozen bundles, none of which should be served from the console's origin.
  const dir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  for (const file of DOC_ASSETS) router.get(`/docs/assets/${file}`, (_req, res) => res.sendFile(path.join(dir, file), { maxAge: '1d' }));
  return router;
}
