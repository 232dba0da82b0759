/**
 * GET /openapi.json and /docs. The document does not depend on the store, so this file runs in the embedded
 * project only. dist/openapi.json comes from `npm run build` (npm test builds first).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { commands } from '../../commands';
import { composeOpenApi } from '../../src/ops/docs';
import { buildOpenApi, dialectTables } from '../../src/ops/openapi';
import { V1_ROUTES } from '../../src/v1/router';
import { launchChromium } from '../helpers/browser';
import { backend, Harness, startHarness } from '../helpers/harness';

const DIALECTS = path.resolve(__dirname, '../../src/dialects');
const BUILT = path.resolve(__dirname, '../../dist/openapi.json');

/** Every route of every dialect file, read here on its own (not through the generator's discovery). */
function dialectRoutes(): { file: string; method: string; path: string; command: string }[] {
  if (!fs.existsSync(DIALECTS)) return [];
  return (
    fs
      .readdirSync(DIALECTS)
      .filter((f) => f.endsWith('.ts'))
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- every dialect file in the folder, found at run time
      .flatMap((f) => ((require(path.join(DIALECTS, f)).ROUTES ?? []) as { method: string; path: string; command: string }[]).map((r) => ({ file: f, ...r })))
  );
}

const onlyOnce = backend() === 'sqlite' ? describe : describe.skip;

onlyOnce('OpenAPI document and /docs', () => {
  let h: Harness;
  let doc: any;
  beforeAll(async () => {
    h = await startHarness();
    const res = await h.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.body;
  });
  afterAll(() => h.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  });

  it('documents every /api.php command as its own operation with each of its error codes', () => {
    for (const [name, cmd] of Object.entries(commands)) {
      const op = doc.paths[`/api.php#${name}`]?.post;
      expect([name, op?.['x-postern-command']]).toEqual([name, name]);
      const codes = op['x-error-codes'].map((e: { code: number }) => e.code);
      for (const code of Object.keys(cmd.errors).map(Number)) expect([name, codes.includes(code)]).toEqual([name, true]);
      if (cmd.auth === 'user' || cmd.auth === 'admin') expect(codes).toContain(99998);
      expect(op.requestBody.content['application/json'].schema.properties.command).toEqual({ const: name });
    }
  });

  it('has every v1 route and every route of every dialect file, naming its command', () => {
    const routes = [...V1_ROUTES.map((r) => ({ file: 'v1', ...r })), ...dialectRoutes()];
    expect(routes.length).toBeGreaterThanOrEqual(V1_ROUTES.length);
    for (const r of routes) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method];
      expect([r.file, r.method, r.path, op?.['x-postern-commands']]).toEqual([r.file, r.method, r.path, expect.arrayContaining([r.command])]);
    }
    // Failure statuses follow the v1 door's rules: business errors HTTP 200 (upstream §2.1, D1), 39 → 502, a rate limit 429.
    const send = doc.paths['/api/v1/email'].post;
    expect(send.responses['200'].description).toContain('| 1 |');
    expect(send.responses['502'].description).toContain('| 39 |');
    expect(send.responses['429'].description).toContain('| 429 |');
    expect(doc.paths['/api/v1/email/{messageid}'].get.parameters).toContainEqual({ name: 'messageid', in: 'path', required: true, schema: { type: 'string' } });
  });

  it('picks up a new dialect file by its ROUTES export, without edits to the generator', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-dialects-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'acme.js'),
        "exports.ROUTES = [{ method: 'put', path: '/acme/v2/things/:thingid', command: 'emailgateway.getdomain', summary: 'A thing' }];",
      );
      fs.writeFileSync(path.join(dir, 'helpers.js'), 'exports.other = 1;');
      const doc = buildOpenApi({ commands, schemaDir: path.resolve(__dirname, '../../schemas'), version: '0', tables: dialectTables(dir) }) as any;
      expect(doc.paths['/acme/v2/things/{thingid}'].put).toMatchObject({
        tags: ['acme'],
        summary: 'A thing',
        'x-postern-commands': ['emailgateway.getdomain'],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is the document the build wrote to dist/openapi.json', () => {
    expect(fs.existsSync(BUILT)).toBe(true);
    expect(Object.keys(JSON.parse(fs.readFileSync(BUILT, 'utf8')).paths).sort()).toEqual(Object.keys(composeOpenApi().paths as object).sort());
  });

  // Chromium's start and Swagger UI's first render of ~200 paths took over 30 s in a loaded CI run (beside other
  // jest workers driving browsers of their own); 4 s when the machine is quiet. The steps' own waits stay shorter.
  it('renders /docs in a browser from local files only', async () => {
    const server = http.createServer(h.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const outside: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(base) && !req.url().startsWith('data:')) outside.push(req.url());
      });
      const res = await page.goto(`${base}/docs`);
      expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
      // Sections start collapsed; opening one shows its operations.
      await page.locator('.opblock-tag', { hasText: 'api.php: user' }).first().click({ timeout: 60000 });
      await page.getByText('/api.php#user.create').first().waitFor({ timeout: 60000 });
      await page.locator('.opblock-tag', { hasText: /^v1$/ }).first().click();
      await page.getByText('/api/v1/email/batch').first().waitFor();
      await page.locator('.opblock-tag', { hasText: 'cyberpanel' }).first().click();
      await page.getByText('/email/v1/send').first().waitFor();
      expect(outside).toEqual([]);
    } finally {
      await browser.close();
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
