/**
 * The built `postern` binary as an operator runs it: CLI commands against the test's database (MariaDB + Redis,
 * or the embedded SQLite), their effects checked through the HTTP doors, and a worker role's ops listener.
 * Requires `npm run build` first (npm test does it).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from '../helpers/ports';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import supertest from 'supertest';
import { waitFor } from '../helpers/sink';
import { createApp } from '../../src/app';
import { Installation, openInstallation } from '../../src/cli/installation';
import { Cli, runCli } from '../../src/cli/program';
import { commands } from '../../commands';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { LOADED_FILES_AT_EXIT, loadedOf } from '../helpers/loaded-modules';
import { keepChildErrors } from '../helpers/log-lines';

const MAIN = path.resolve(__dirname, '../../dist/src/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the binary; with `loadedOut`, it writes the files it loaded there at exit (tests/helpers/loaded-files-at-exit.js). */
function postern(args: string[], env: Record<string, string | undefined>, loadedOut?: string): Promise<Run> {
  return new Promise((resolve) => {
    const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const preload = loadedOut ? ['--require', LOADED_FILES_AT_EXIT] : [];
    const child = spawn(process.execPath, [...preload, MAIN, ...args], { env: { ...clean, ...env, ...(loadedOut ? { LOADED_FILES_OUT: loadedOut } : {}) } });
    keepChildErrors(child, `postern ${args[0] ?? ''}`.trim());
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** The same program in this process (the binary's main only adds process.exit): for the breadth of checks. */
async function cli(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (chunk, _enc, done) => (add(String(chunk)), done()) });
  // One installation for every in-process run on the harness's environment (opening one per run costs seconds
  // under load); other environments open their own, as the binary does.
  const open = env === h.env ? async () => ({ ...(shared ??= await openInstallation(h.env)), close: async () => undefined }) : openInstallation;
  const c = new Cli({ env, stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) }, open);
  const code = await runCli(['node', 'postern', ...args], c, async () => undefined);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

/** What a CLI command or a role that does not serve them must not load: the api's app, the SMTP servers (src/roles.ts). */
const SERVERS = ['dist/src/roles.js', 'dist/src/app.js', 'express', 'smtp-server', 'selfsigned'];

let h: Harness;
let shared: Installation | undefined;
let tmp: string;
beforeAll(async () => {
  expect(fs.existsSync(MAIN)).toBe(true);
  h = await startHarness();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-cli-'));
});
afterAll(async () => {
  await shared?.close();
  await h.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('postern CLI, run as a process', () => {
  it('creates a user who can then log in, loading none of the servers; exits 1 with the envelope on a command error, 3 on bad configuration, 0 for --help', async () => {
    // Side by side: each process loads the program, which takes a second or more on a busy machine.
    const loaded = path.join(tmp, 'user-create.json');
    const helpLoaded = path.join(tmp, 'help.json');
    const badLoaded = path.join(tmp, 'bad-config.json');
    const [created, failed, badConfig, help] = await Promise.all([
      postern(['user', 'create', '--username', 'cli-ada', '--email', 'cli-ada@example.com'], h.env, loaded),
      postern(['call', 'user.get', 'UserID:=999999'], h.env),
      postern(['user', 'list'], { ...h.env, PORT: 'abc' }, badLoaded),
      postern(['user', 'create', '--help'], {}, helpLoaded),
    ]);
    expect(created.code).toBe(0);
    expect(created.json).toEqual({ UserID: expect.any(Number), Password: expect.stringMatching(/^\S{12,}$/) });
    const login = await h.call({ Command: 'user.login', Username: 'cli-ada', Password: created.json.Password });
    expect(login).toMatchObject({ Success: true, SessionID: expect.any(String) });
    expect(loadedOf(loaded, SERVERS)).toEqual([]);

    expect(failed.code).toBe(1);
    expect(failed.json).toMatchObject({ Success: false, ErrorCode: 2, ErrorText: 'User not found' });
    expect(failed.stderr).toBe('postern: user.get failed: 2 User not found\n');
    expect(badConfig.code).toBe(3);
    expect(badConfig.stderr).toBe('postern: invalid configuration: PORT must be a whole number (got "abc")\n');
    // Refused before the installation loads (~590 files, most of a second): about the few dozen --help reads.
    expect(loadedOf(badLoaded, ['dist/src/cli/installation.js', 'dist/src/dispatch.js', 'knex', ...SERVERS])).toEqual([]);
    expect(JSON.parse(fs.readFileSync(badLoaded, 'utf8')).length).toBeLessThan(100);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: postern user create \[options\] \[params\.\.\.\]/);
    // Help opens nothing: not the installation's services, the dispatcher or the database driver.
    expect(loadedOf(helpLoaded, ['dist/src/cli/installation.js', 'dist/src/dispatch.js', 'knex', ...SERVERS])).toEqual([]);
  }, 60_000);

  it('call --list prints the command table without opening the database (none at DATABASE_URL) nor loading the installation, the dispatcher or knex', async () => {
    const listLoaded = path.join(tmp, 'call-list.json');
    // A valid configuration whose database is at a closed port: opening the installation fails there (exit 3).
    const env = { DATABASE_URL: 'mysql://root@127.0.0.1:1/x', ENCRYPTION_KEY: 'ab'.repeat(32) };
    const listed = await postern(['call', '--list'], env, listLoaded);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.json.Commands).toHaveLength(Object.keys(commands).length);
    expect(listed.json.Commands).toContainEqual({ Command: 'queue.status', Auth: 'admin' });
    expect(listed.json.Commands).toContainEqual({ Command: 'emailgateway.getwebhooks', Auth: 'user', Permission: 'EmailGateway.ManageDomain' });
    const opened = ['dist/src/cli/installation.js', 'dist/src/dispatch.js', 'dist/src/services.js', 'knex', 'mysql2'];
    expect(loadedOf(listLoaded, [...opened, ...SERVERS])).toEqual([]);
  }, 60_000);
});

describe('postern CLI commands', () => {
  it('lists and disables users; a disabled user can no longer log in', async () => {
    await cli(['user', 'create', '--username', 'cli-cy', '--email', 'cy@example.com', '--password', 'correct horse battery'], h.env);
    const list = await cli(['user', 'list', '--search', 'cli-cy'], h.env);
    expect(list.code).toBe(0);
    expect(list.json.Users.map((u: { Username: string }) => u.Username)).toEqual(['cli-cy']);
    const off = await cli(['user', 'disable', 'cy@example.com'], h.env);
    expect(off.code).toBe(0);
    expect(off.json.UserInfo.AccountStatus).toBe('Disabled');
    expect((await h.call({ Command: 'user.login', Username: 'cli-cy', Password: 'correct horse battery' })).Success).toBe(false);
  });

  it('user create with a Password= pair sets that password and prints no other; with --password too it is a usage error', async () => {
    const made = await cli(['user', 'create', '--username', 'cli-pw', '--email', 'pw@example.com', 'Password=Secret123'], h.env);
    expect(made.code).toBe(0);
    expect(made.json).toEqual({ UserID: expect.any(Number) });
    expect((await h.call({ Command: 'user.login', Username: 'cli-pw', Password: 'Secret123' })).Success).toBe(true);
    const both = await cli(['user', 'create', '--username', 'cli-pw2', '--email', 'pw2@example.com', '--password', 'Secret456', 'Password=Secret123'], h.env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give the password once/);
  });

  it('user list lists every user, past the 1,000 one users.get call answers', async () => {
    const db = h.services.db;
    const now = Date.now();
    // The users are the fixture, written in bulk; the listing is what is under test.
    for (let i = 0; i < 1001; i += 200) {
      await db('users').insert(
        Array.from({ length: Math.min(200, 1001 - i) }, (_, j) => ({
          group_id: 1,
          username: `bulk${i + j}`,
          email_address: `bulk${i + j}@example.com`,
          password_hash: 'x',
          created_at: now,
          updated_at: now,
        })),
      );
    }
    const [{ n }] = await db('users').count({ n: '*' });
    const list = await cli(['user', 'list'], h.env);
    expect(list.code).toBe(0);
    expect(list.stderr).toBe('');
    expect(list.json.TotalUserCount).toBe(Number(n));
    expect(list.json.Users).toHaveLength(Number(n));
    expect(new Set(list.json.Users.map((u: { UserID: number }) => u.UserID)).size).toBe(Number(n));
  });

  it('adds a domain for a user, shows its records, verifies it, and makes a sender key that sends over /api/v1', async () => {
    const owner = await cli(['user', 'create', '--username', 'cli-bob', '--email', 'bob@example.com', '--password', 'correct horse battery'], h.env);
    expect(owner.json).toEqual({ UserID: expect.any(Number) });
    const added = await cli(['domain', 'add', 'cli-bob.example.com', '--user', 'cli-bob'], h.env);
    expect(added.code).toBe(0);
    expect(added.json.Domain).toMatchObject({ SenderDomain: 'cli-bob.example.com', Status: 'Approval Pending' });

    const records = await cli(['domain', 'records', 'cli-bob.example.com'], h.env);
    expect(records.json).toMatchObject({
      SenderDomain: 'cli-bob.example.com',
      DNSRecords: expect.arrayContaining([expect.objectContaining({ Type: 'CNAME', Host: 'sl.cli-bob.example.com' })]),
    });
    // The harness's resolver answers nothing: verification runs and leaves the domain pending.
    const verified = await cli(['domain', 'verify', String(added.json.NewSenderDomainID)], h.env);
    expect(verified.code).toBe(0);
    expect(verified.json.Domain.Status).toBe('Approval Pending');

    await h.services.db('sender_domains').where({ id: added.json.NewSenderDomainID }).update({ status: 'Enabled' });
    const key = await cli(['key', 'create', 'cli-bob.example.com', '--description', 'from the cli'], h.env);
    expect(key.code).toBe(0);
    const sent = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${key.json.APIKey.APIKey}` },
      body: { Subject: 'Hi', ContentType: 'plain', PlainContent: 'x', From: { email: 'a@cli-bob.example.com' }, To: [{ email: 'r@dest.test' }] },
    });
    expect(sent.status).toBe(200);

    const queue = await cli(['queue', 'status', '--domain', 'cli-bob.example.com'], h.env);
    expect(queue.code).toBe(0);
    expect(queue.json.Queue).toEqual({ Queued: 1, Scheduled: 0, Deferred: 0, Leased: 0, Held: 0 });
    expect(queue.json.OldestQueuedSeconds).toBeGreaterThanOrEqual(0);
    // `queue <verb>` runs queue.<verb>: the queue control commands slot in by name.
    expect((await cli(['queue', 'status', '--domain', 'nowhere.example'], h.env)).code).toBe(2);

    // The admin suspends the domain: its key's sends are refused (code 32) until it is unsuspended.
    const suspended = await cli(['domain', 'suspend', 'cli-bob.example.com'], h.env);
    expect(suspended.json).toMatchObject({ DomainID: added.json.NewSenderDomainID, Status: 'Suspended', Changed: true });
    // The CLI is another process: this one sees the change within its credential cache (SENDER_AUTH_CACHE_MS, 1 s).
    let refused: unknown;
    await waitFor(async () => {
      const r = await h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${key.json.APIKey.APIKey}` },
        body: { Subject: 'Hi', ContentType: 'plain', PlainContent: 'x', From: { email: 'a@cli-bob.example.com' }, To: [{ email: 'r@dest.test' }] },
      });
      refused = r.body.Errors?.[0];
      return !!refused;
    }, 5000);
    expect(refused).toMatchObject({ Code: 32, Message: expect.stringContaining('suspended') });
    // Its records never verified: lifting the suspension leaves it Approval Pending.
    const lifted = await cli(['domain', 'unsuspend', String(added.json.NewSenderDomainID)], h.env);
    expect(lifted.json).toMatchObject({ Status: 'Approval Pending', Changed: true });
    expect((await cli(['domain', 'unsuspend', 'cli-bob.example.com'], h.env)).code).not.toBe(0);
  });

  it('runs any command with call: admin commands as the admin, user and sender commands as the one named', async () => {
    const s = await senderSetup(h);
    const domains = await cli(['call', 'emailgateway.getdomains', '--user', String(s.userId)], h.env);
    expect(domains.code).toBe(0);
    expect(domains.json.Domains.map((d: { DomainID: number }) => d.DomainID)).toEqual([s.domainId]);
    const sent = await cli(
      [
        'call',
        'emailgateway.sendemail',
        '--domain',
        s.domain,
        'Subject=From the CLI',
        'ContentType=plain',
        'PlainContent=hi',
        `From:={"email":"cli@${s.domain}"}`,
        'To:=[{"email":"r@dest.test"}]',
      ],
      h.env,
    );
    expect(sent.code).toBe(0);
    const msg = await h.request('GET', `/api/v1/email/${sent.json.MessageID}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(msg.body).toMatchObject({ MessageID: sent.json.MessageID, Subject: 'From the CLI' });
    const users = await cli(['call', 'users.get', '--json', '{"RecordsPerRequest":1}'], h.env);
    expect(users.json.Users).toHaveLength(1);
    const listed = await cli(['call', '--list'], h.env);
    expect(listed.json.Commands).toContainEqual({ Command: 'queue.status', Auth: 'admin' });
  });

  it('says what is wrong with bad usage (exit 2) and which principal a command needs (exit 1)', async () => {
    const needsUser = await cli(['call', 'emailgateway.getdomains'], h.env);
    expect(needsUser.code).toBe(1);
    expect(needsUser.stderr).toContain('acts for a user: name one (--user)');
    const cases: [string[], RegExp][] = [
      [['call', 'no.such.command'], /unknown command "no\.such\.command"/],
      [['call', 'users.get', 'not-a-pair'], /"not-a-pair" is not Key=value or Key:=json/],
      [['call', 'users.get', 'N:={'], /N: not valid JSON/],
      [['domain', 'verify', 'nowhere.example'], /no sender domain "nowhere\.example"/],
      [['user', 'disable', 'nobody'], /no user "nobody"/],
      [['queue', 'bogus'], /unknown queue command "bogus" \(there are: hold, list, purge, release, retry, status\)/],
      [['user', 'create'], /required option '--username <name>' not specified/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, h.env);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toMatch(message);
    }
  });

  it('prints --help for every shortcut', async () => {
    expect((await cli(['--version'], {})).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    for (const args of [
      ['--help'],
      ['call', '--help'],
      ['user', 'list', '--help'],
      ['user', 'disable', '--help'],
      ['domain', 'add', '--help'],
      ['domain', 'verify', '--help'],
      ['domain', 'records', '--help'],
      ['key', 'create', '--help'],
      ['queue', 'status', '--help'],
      ['admin', 'reset-key', '--help'],
      ['admin', 'reset-password', '--help'],
      ['dev', '--help'],
    ]) {
      const r = await cli(args, {});
      expect([args, r.code]).toEqual([args, 0]);
      expect(r.stdout).toMatch(/^Usage: postern/);
    }
  });

  it('a role or dev with --help prints its help and exits: the binary starts nothing', async () => {
    for (const args of [
      ['dev', '--help'],
      ['api', '-h'],
    ]) {
      const r = await postern(args, { DATA_DIR: '/nonexistent/postern-help-test' });
      expect({ args, code: r.code, usage: r.stdout.split('\n')[0] }).toEqual({ args, code: 0, usage: `Usage: postern ${args[0]} [options]` });
    }
  });

  it('admin reset-key prints a new key once; the old one stops working; refused while ADMIN_API_KEY is set', async () => {
    const refused = await cli(['admin', 'reset-key'], h.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ADMIN_API_KEY');

    const env = { ...h.env, ADMIN_API_KEY: '' };
    const first = await cli(['admin', 'reset-key'], env);
    const second = await cli(['admin', 'reset-key'], env);
    expect(first.json.AdminAPIKey).toMatch(/^pa_[A-Za-z0-9]{40}$/);
    expect(second.json.AdminAPIKey).not.toBe(first.json.AdminAPIKey);
    // An api process of the same install without ADMIN_API_KEY takes only the newest key.
    const { app } = createApp({ ...h.services, config: { ...h.services.config, adminApiKey: null } });
    const login = (key: string) => supertest(app).post('/api.php').send({ Command: 'admin.login', AdminAPIKey: key });
    expect((await login(first.json.AdminAPIKey)).body.Success).toBe(false);
    expect((await login(second.json.AdminAPIKey)).body.Success).toBe(true);
  });

  it('admin reset-password prints a new password once: it signs in, the old one and the old sessions stop working', async () => {
    const before = await cli(['admin', 'reset-password'], h.env);
    expect(before.code).toBe(0);
    const login = (password: string) => h.request('POST', '/api.php', { body: { Command: 'admin.login', Username: before.json.Username, Password: password } });
    const session = (await login(before.json.Password)).body.SessionID as string;
    expect(session).toBeTruthy();
    const after = await cli(['admin', 'reset-password'], h.env);
    expect(after.json.Password).not.toBe(before.json.Password);
    expect((await login(before.json.Password)).body.Success).toBe(false);
    expect((await login(after.json.Password)).body.Success).toBe(true);
    const old = await h.request('POST', '/api.php', { body: { Command: 'users.get', SessionID: session } });
    expect(old.body.ErrorCode).toBe(99998);
    const rows = await h.services.db('admins').select('password_hash');
    expect(JSON.stringify(rows)).not.toContain(after.json.Password);
  });
});

describe('postern worker (a role process)', () => {
  it("answers /healthz, /readyz and /metrics on OPS_PORT, without loading the api's app or the SMTP servers", async () => {
    const port = await freePort();
    const loaded = path.join(tmp, 'worker.json');
    const child = spawn(process.execPath, ['--require', LOADED_FILES_AT_EXIT, MAIN, 'worker'], {
      env: { PATH: process.env.PATH, ...h.env, OPS_PORT: String(port), OPS_HOST: '127.0.0.1', LOG_LEVEL: 'info', LOADED_FILES_OUT: loaded },
    });
    keepChildErrors(child, 'worker');
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const until = Date.now() + 30_000;
      while (!out.includes('ops listening')) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`worker did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const base = `http://127.0.0.1:${port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', role: 'worker' });
      // Ready once its first checks answer within their 1 s deadline: a freshly started process on a loaded host can miss
      // the first (seen at load 11), as an orchestrator's probe would retry.
      await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 15_000, 'the worker ready');
      const text = await (await fetch(`${base}/metrics`)).text();
      // The worker may already be retrying the messages sent above: the states are there, whatever their counts.
      for (const state of ['queued', 'scheduled', 'deferred', 'leased', 'held'])
        expect(text).toMatch(new RegExp(`^postern_queue_depth\\{state="${state}"\\} \\d+$`, 'm'));
      expect(text).toContain('process_cpu_user_seconds_total');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    // Its ops routes are an express router: express itself is expected.
    expect(loadedOf(loaded, ['dist/src/app.js', 'smtp-server', 'selfsigned'])).toEqual([]);
  });
});
