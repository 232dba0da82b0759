/**
 * Starts the built gateway exactly as `npm start` does on a fresh clone: no DATABASE_URL, no REDIS_URL,
 * a new DATA_DIR. Requires `npm run build` first (npm test does it).
 */
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOADED_FILES_AT_EXIT, loadedOf } from '../helpers/loaded-modules';
import { freePort } from '../helpers/ports';

const MAIN = path.resolve(__dirname, '../../dist/src/main.js');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'ADMIN_API_KEY', 'ENCRYPTION_KEY', 'ROLE', 'POSTERN_TEST_DB']) delete env[k];
  return { ...env, ...extra };
}

interface Proc {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  exited: Promise<number | null>;
}

/** Every gateway a test started, ended in afterAll: a failed assertion must not leave one running after jest. */
const started = new Set<ChildProcessWithoutNullStreams>();

/** With `loadedOut`, the gateway writes the files it loaded there at exit (tests/helpers/loaded-files-at-exit.js). */
async function startGateway(dataDir: string, port: number, loadedOut?: string): Promise<Proc> {
  const child = spawn(process.execPath, [...(loadedOut ? ['--require', LOADED_FILES_AT_EXIT] : []), MAIN], {
    env: cleanEnv({
      ...(loadedOut ? { LOADED_FILES_OUT: loadedOut } : {}),
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      MAIL_HOSTNAME: 'mx.smoke.test',
      SMTP_PORT: '0',
      INBOUND_SMTP_PORT: '0',
      SMTP_HOST: '127.0.0.1',
    }),
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('api listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, out: () => out, exited };
}

async function api(port: number, params: Record<string, unknown>): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/api.php`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return res.json();
}

describe('embedded default (npm start on a fresh clone)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-smoke-'));
  afterAll(() => {
    for (const child of started) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with no servers, prints the admin key once, serves the walk-through, and stops cleanly on SIGTERM', async () => {
    expect(fs.existsSync(MAIN)).toBe(true);
    const port = await freePort();
    const loaded = [path.join(dataDir, 'loaded-first.json'), path.join(dataDir, 'loaded-again.json')];
    const gw = await startGateway(dataDir, port, loaded[0]);
    const adminKey = /AdminAPIKey:\s+(pa_[A-Za-z0-9]+)/.exec(gw.out())?.[1];
    expect(adminKey).toBeDefined();

    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);

    // The web console is built with the rest and served by the api role; the banner says where.
    expect(gw.out()).toContain(`/console/`);
    const page = await fetch(`http://127.0.0.1:${port}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect((await fetch(`http://127.0.0.1:${port}${script}`)).status).toBe(200);

    const created = await api(port, {
      Command: 'user.create',
      AdminAPIKey: adminKey,
      RelUserGroupID: 1,
      EmailAddress: 'ada@example.com',
      Username: 'ada',
      Password: 'analytical-engine',
      FirstName: 'Ada',
      TimeZone: 'UTC',
      Language: 'en',
    });
    expect(created).toMatchObject({ Success: true, UserID: 1 });
    const login = await api(port, { Command: 'user.login', Username: 'ada', Password: 'analytical-engine' });
    expect(login.Success).toBe(true);
    const domain = await api(port, { Command: 'emailgateway.adddomain', SessionID: login.SessionID, DomainName: 'example.com' });
    expect(domain).toMatchObject({ Success: true, Domain: { SenderDomain: 'example.com', Status: 'Approval Pending' } });
    const key = await api(port, { Command: 'emailgateway.addapi', SessionID: login.SessionID, DomainID: domain.NewSenderDomainID, Description: 'prod' });
    expect(key.APIKey.APIKey).toMatch(/^eg_live_/);
    const smtp = await api(port, { Command: 'emailgateway.addsmtp', SessionID: login.SessionID, DomainID: domain.NewSenderDomainID });
    expect(smtp.SMTP.SMTPPassword).toHaveLength(24);

    // No secret reaches the output besides the one-time banner.
    expect(gw.out()).not.toContain(key.APIKey.APIKey);
    expect(gw.out()).not.toContain(smtp.SMTP.SMTPPassword);
    expect(gw.out()).not.toContain('analytical-engine');

    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'postern.sqlite'))).toBe(true);

    // A restart keeps the data and does not print (or change) credentials again.
    const again = await startGateway(dataDir, port, loaded[1]);
    expect(again.out()).not.toContain('AdminAPIKey:');
    const relogin = await api(port, { Command: 'user.login', Username: 'ada', Password: 'analytical-engine' });
    expect(relogin.Success).toBe(true);
    const list = await api(port, { Command: 'user.current', AdminAPIKey: adminKey, SessionID: relogin.SessionID });
    expect(list.UserInfo.Username).toBe('ada');
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    // The SMTP front's self-signed pair is made at the first start, and only then is selfsigned (640 files) loaded.
    expect(loaded.map((file) => loadedOf(file, ['selfsigned']))).toEqual([['selfsigned'], []]);
    // Two starts (each may take up to startGateway's 30 s) and production-cost password hashes: on a slow, busy
    // host the whole walk ran past jest's default 30 s.
  }, 90_000);

  it.each([
    [{ PORT: 'abc' }, /^postern: invalid configuration: PORT must be a whole number \(got "abc"\)\n$/],
    [{ DATABASE_URL: 'mysql://root@127.0.0.1/x' }, /^postern: invalid configuration: ENCRYPTION_KEY is required when DATABASE_URL is set/],
    [{ ROLE: 'bogus' }, /^postern: invalid configuration: ROLE must be one of all, api, worker, smtp, migrate \(got "bogus"\)\n$/],
    [{ REDIS_URL: 'http://x' }, /^postern: invalid configuration: REDIS_URL must start with redis:\/\/ or rediss:\/\/\n$/],
    // The suite's cheap password hash (tests/helpers/harness.ts) is refused by anything that is not a test run.
    [
      { PASSWORD_HASH_COST: '10', NODE_ENV: 'production' },
      /^postern: invalid configuration: PASSWORD_HASH_COST=10 is below the minimum of 15; a lower cost is accepted only with NODE_ENV=test\n$/,
    ],
  ])('exits with one line naming the bad variable (%j)', (extra, message) => {
    const r = spawnSync(process.execPath, [MAIN], { env: cleanEnv({ DATA_DIR: dataDir, ...extra }), encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
