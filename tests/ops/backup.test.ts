/**
 * `postern backup <dir>` (src/cli/backup.ts) as an operator runs it, with the built binary, against a running embedded
 * gateway that is accepting mail meanwhile: the copy is consistent, carries the key its DKIM keys were encrypted with,
 * and a gateway started on it has the same users, domains and keys (a sign-in over /api.php, a send signed at the sink).
 * Runs once: it makes its own embedded installations whatever the project's store. Requires `npm run build` first.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { Running, start } from '../../src/main';
import { fixtureDkimKeys } from '../helpers/dkim-fixtures';
import { localGatewayEnv, quietStart } from '../helpers/local-gateway-env';
import { errorsOnFailure, keepChildErrors } from '../helpers/log-lines';
import { Sink, startSink, waitFor } from '../helpers/sink';

jest.setTimeout(90_000);

const MAIN = path.resolve(__dirname, '../../dist/src/main.js');
const adminKey = `backup-admin-${crypto.randomBytes(12).toString('hex')}`;
const domain = 'backup.example.com';
const password = 'backup test password';

let tmp: string;
let sink: Sink;
const running: Running[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-backup-'));
  sink = await startSink();
});
afterAll(async () => {
  for (const g of running) await g.stop().catch(() => undefined);
  await sink?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function gatewayOn(dataDir: string): Promise<{ g: Running; api: (p: Record<string, unknown>) => Promise<any>; base: string }> {
  const g = await start(
    // No DNS watch: it re-verifies the Enabled domain and rewrites its records while the test compares them.
    loadConfig({
      ...localGatewayEnv(dataDir, adminKey, 'mx.backup.test'),
      DELIVERY_MODE: 'relay',
      SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
      DNS_WATCH_INTERVAL_SECONDS: '0',
    }),
    { ...quietStart, logger: errorsOnFailure() },
  );
  running.push(g);
  g.services.newDkimKey = fixtureDkimKeys();
  const base = `http://127.0.0.1:${(g.server!.address() as AddressInfo).port}`;
  const api = async (params: Record<string, unknown>) =>
    (await fetch(`${base}/api.php`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) })).json();
  return { g, api, base };
}

function postern(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'error', ...env } });
    keepChildErrors(child, `postern ${args[0] ?? ''}`.trim());
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

it('copies a running gateway that is accepting mail; a gateway started on the copy has its users, domains and keys', async () => {
  const dataDir = path.join(tmp, 'data');
  const a = await gatewayOn(dataDir);
  expect(
    await a.api({
      Command: 'user.create',
      AdminAPIKey: adminKey,
      RelUserGroupID: 1,
      Username: 'ada',
      Password: password,
      EmailAddress: 'ada@example.org',
      FirstName: 'Ada',
      TimeZone: 'UTC',
      Language: 'en',
    }),
  ).toMatchObject({ Success: true });
  const { SessionID } = await a.api({ Command: 'user.login', Username: 'ada', Password: password });
  const domainId = (await a.api({ Command: 'emailgateway.adddomain', SessionID, DomainName: domain })).NewSenderDomainID;
  // Verification is not this test's subject: the domain is made Enabled as if its records had been checked.
  await a.g.services.db('sender_domains').where({ id: domainId }).update({ status: 'Enabled' });
  const key = (await a.api({ Command: 'emailgateway.addapi', SessionID, DomainID: domainId, Description: 'backup' })).APIKey.APIKey;
  const dkim = (await a.api({ Command: 'emailgateway.getdomain', SessionID, DomainID: domainId })).Domain.DNSRecords;
  const send = async (base: string, to: string): Promise<{ MessageID?: string }> =>
    (
      await fetch(`${base}/api/v1/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ From: { email: `app@${domain}` }, To: [{ email: to }], Subject: 'Hi', ContentType: 'plain', PlainContent: 'Hello' }),
      })
    ).json() as Promise<{ MessageID?: string }>;

  // Sends go on while the backup runs: it must copy a consistent state, not wait for quiet.
  let sending = true;
  let sent = 0;
  const load = (async () => {
    while (sending) if ((await send(a.base, `r${sent}@inbox.test`)).MessageID) sent++;
  })();
  await waitFor(() => sent >= 5, 20_000, 'sends before the backup');
  const backupDir = path.join(tmp, 'backups', 'first');
  const before = sent;
  const r = await postern(['backup', backupDir], { DATA_DIR: dataDir });
  const during = sent - before;
  sending = false;
  await load;
  expect(during).toBeGreaterThan(0);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const out = JSON.parse(r.stdout);
  expect(out).toMatchObject({ Backup: backupDir, IntegrityCheck: 'ok' });
  expect(out.Warning).toBeUndefined();
  const names = out.Files.map((f: { Name: string }) => f.Name);
  expect(names).toEqual(expect.arrayContaining(['encryption.key', 'postern.sqlite']));
  expect(mode(backupDir)).toBe(0o700);
  for (const n of names) expect(mode(path.join(backupDir, n))).toBe(0o600);
  expect(fs.readFileSync(path.join(backupDir, 'encryption.key'), 'utf8')).toBe(fs.readFileSync(path.join(dataDir, 'encryption.key'), 'utf8'));
  await a.g.stop();
  running.splice(running.indexOf(a.g), 1);
  // Stopped, too: the live file is opened read-only, and the copy is of the state the gateway left.
  const stopped = await postern(['backup', path.join(tmp, 'backups', 'stopped')], { DATA_DIR: dataDir });
  expect(stopped.code).toBe(0);
  expect(fs.readdirSync(path.join(tmp, 'backups')).sort()).toEqual(['first', 'stopped']); // no partial directory left

  const b = await gatewayOn(backupDir);
  // Consistent: some of the sends made meanwhile are there, and none without its delivery.
  const db = b.g.services.db;
  const copied = Number((await db('messages').count({ n: '*' }))[0].n);
  expect(copied).toBeGreaterThanOrEqual(5);
  expect(copied).toBeLessThanOrEqual(sent);
  expect(await db('messages').whereNotExists(db('deliveries').whereRaw('deliveries.message_id = messages.id')).count({ n: '*' })).toEqual([{ n: 0 }]);

  const login = await b.api({ Command: 'user.login', Username: 'ada', Password: password });
  expect(login).toMatchObject({ Success: true });
  expect((await b.api({ Command: 'emailgateway.getdomain', SessionID: login.SessionID, DomainID: domainId })).Domain.DNSRecords).toEqual(dkim);
  // The DKIM key decrypts with the copied encryption.key: the message leaves signed.
  const after = await send(b.base, 'after-restore@inbox.test');
  expect(after.MessageID).toEqual(expect.any(String));
  await waitFor(() => sink.received.some((m) => m.to.includes('after-restore@inbox.test')), 20_000, 'the send from the restored gateway');
  const raw = sink.received.find((m) => m.to.includes('after-restore@inbox.test'))!.raw.toString();
  expect(raw).toMatch(new RegExp(`^DKIM-Signature:[^]*?d=${domain.replace(/\./g, '\\.')};`, 'm'));
});

it('refuses a directory in use, a missing database and a MySQL installation, each with its own exit code', async () => {
  const dataDir = path.join(tmp, 'refusals');
  fs.mkdirSync(dataDir);
  // Nothing to copy: exit 3, as an installation that cannot be opened.
  const none = await postern(['backup', path.join(tmp, 'nothing')], { DATA_DIR: dataDir });
  expect(none.code).toBe(3);
  expect(none.stderr).toContain(`no embedded database at ${path.join(dataDir, 'postern.sqlite')}`);
  expect(fs.existsSync(path.join(tmp, 'nothing'))).toBe(false);

  fs.writeFileSync(path.join(dataDir, 'postern.sqlite'), '');
  // Any existing name, an empty directory too: another user's directory could hold a planted symlink by the time
  // the copy is written.
  const used = path.join(tmp, 'used');
  fs.mkdirSync(used);
  const busy = await postern(['backup', used], { DATA_DIR: dataDir });
  expect(busy.code).toBe(2);
  expect(busy.stderr).toContain(`${used} exists: name a new directory`);
  for (const inside of [dataDir, path.join(dataDir, 'backup')]) {
    const r = await postern(['backup', inside], { DATA_DIR: dataDir });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: 'postern: the backup directory must be outside DATA_DIR\n' });
  }
  expect(fs.readdirSync(dataDir)).toEqual(['postern.sqlite']);

  // MySQL: the database's own tools, whatever else this shell lacks (no ENCRYPTION_KEY here).
  const mysql = await postern(['backup', path.join(tmp, 'm')], { DATA_DIR: dataDir, DATABASE_URL: 'mysql://root@127.0.0.1:3306/postern_backup_never_opened' });
  expect(mysql.code).toBe(2);
  expect(mysql.stderr).toContain('mariadb-dump --single-transaction');
  expect(fs.readdirSync(tmp).sort()).toEqual(['backups', 'data', 'refusals', 'used']); // nothing made for the refused ones
});

it('warns when the backup holds no key the DKIM keys can be read with', async () => {
  const dataDir = path.join(tmp, 'keyless');
  fs.mkdirSync(dataDir);
  fs.copyFileSync(path.join(tmp, 'backups', 'first', 'postern.sqlite'), path.join(dataDir, 'postern.sqlite'));
  const r = await postern(['backup', path.join(tmp, 'keyless-backup')], { DATA_DIR: dataDir });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).Warning).toContain('DATA_DIR holds no encryption.key');
  const withKey = await postern(['backup', path.join(tmp, 'env-key-backup')], { DATA_DIR: dataDir, ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex') });
  expect(withKey.code).toBe(0);
  expect(JSON.parse(withKey.stdout).Warning).toContain('ENCRYPTION_KEY is set in this environment');
});
