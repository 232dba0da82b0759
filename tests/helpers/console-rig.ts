import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config';
import { consoleDir } from '../../src/console/serve';
import { Running, start } from '../../src/main';
import { launchChromium } from './browser';
import { fixtureDkimKeys } from './dkim-fixtures';
import { localGatewayEnv, quietStart } from './local-gateway-env';
import { errorsOnFailure } from './log-lines';
import { DnsZone, publish, startDnsZone } from './dns-zone';
import { Sink, startSink } from './sink';
import { Receiver, startReceiver } from '../webhooks/receiver';

export interface ConsoleRig {
  base: string;
  adminKey: string;
  gateway: Running;
  dns: DnsZone;
  sink: Sink;
  receiver: Receiver;
  browser: Browser;
  /** POST /api.php on the running gateway, as the console does. */
  api(params: Record<string, unknown>): Promise<any>;
  /** As `api`, but a failed command throws with its reply: for seeding a test's data. */
  ok(params: Record<string, unknown>): Promise<any>;
  /** A user created by the admin, signed in, with a domain whose records are published and verified (Enabled). */
  userWithDomain(username: string, password: string, domain: string): Promise<{ sessionId: string; domainId: number }>;
  close(): Promise<void>;
}

/**
 * A real gateway as `npm start` runs it (role all, embedded SQLite, in-process queue) listening on 127.0.0.1,
 * with a DNS server for verification, an SMTP sink it relays to, a webhook receiver, and one headless Chromium.
 * The console must have been built (npm test builds it; or `npm run build:console`). `env` overrides any setting.
 */
export async function startConsoleRig(env: Record<string, string> = {}): Promise<ConsoleRig> {
  if (!fs.existsSync(path.join(consoleDir(), 'index.html'))) throw new Error(`${consoleDir()}/index.html is missing: run \`npm run build:console\` first`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-console-'));
  const [dns, sink, receiver] = await Promise.all([startDnsZone(), startSink(), startReceiver()]);
  const adminKey = `console-admin-${crypto.randomBytes(12).toString('hex')}`;
  const config = loadConfig({
    ...localGatewayEnv(dataDir, adminKey, 'mx.console.test'),
    SMTP_PUBLIC_HOST: 'smtp.console.test',
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    WEBHOOK_ALLOW_PRIVATE: '1',
    WEBHOOK_POLL_MS: '200',
    ...env,
  });
  // Its error lines go to the output of a test that fails, not to every run's (tests/helpers/log-lines.ts).
  const gateway = await start(config, { ...quietStart, logger: errorsOnFailure() });
  // As in the harness: the committed test keys instead of an RSA-2048 generation (~210 ms) per domain.
  gateway.services.newDkimKey = fixtureDkimKeys();
  const base = `http://127.0.0.1:${(gateway.server!.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  const rig: ConsoleRig = {
    base,
    adminKey,
    gateway,
    dns,
    sink,
    receiver,
    browser,
    async api(params) {
      const res = await fetch(`${base}/api.php`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
      return res.json();
    },
    async ok(params) {
      const r = await rig.api(params);
      if (!r.Success) throw new Error(`${String(params.Command)} failed: ${JSON.stringify(r)}`);
      return r;
    },
    async userWithDomain(username, password, domain) {
      await rig.ok({
        Command: 'user.create',
        AdminAPIKey: adminKey,
        RelUserGroupID: 1,
        Username: username,
        Password: password,
        EmailAddress: `${username}@example.org`,
        FirstName: username,
        TimeZone: 'UTC',
        Language: 'en',
      });
      const { SessionID } = await rig.ok({ Command: 'user.login', Username: username, Password: password });
      const { NewSenderDomainID } = await rig.ok({ Command: 'emailgateway.adddomain', SessionID, DomainName: domain });
      publish(dns.zone, (await rig.ok({ Command: 'emailgateway.getdomain', SessionID, DomainID: NewSenderDomainID })).Domain.DNSRecords);
      const v = await rig.ok({ Command: 'emailgateway.verifydomain', SessionID, DomainID: NewSenderDomainID });
      const d = await rig.ok({ Command: 'emailgateway.getdomain', SessionID, DomainID: NewSenderDomainID });
      if (d.Domain.Status !== 'Enabled') throw new Error(`${domain} did not verify: ${JSON.stringify(v)}`);
      return { sessionId: SessionID, domainId: NewSenderDomainID };
    },
    async close() {
      await browser.close().catch(() => undefined);
      await gateway.stop();
      await Promise.all([dns.close(), sink.close(), receiver.stop()]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return rig;
}

/** Who signs in on the console's form: the administrator by key, or a user by name and password. */
export type ConsoleSignIn = { adminKey: string } | { username: string; password: string };

/** Fills and submits the sign-in form the page shows (its tab, then its fields); does not wait for the result. */
export async function submitSignIn(page: Page, who: ConsoleSignIn): Promise<void> {
  const admin = 'adminKey' in who;
  await page.getByRole('tab', { name: admin ? 'Admin' : 'User' }).click();
  if (admin) {
    await page.locator('input[name=adminapikey]').fill(who.adminKey);
  } else {
    await page.locator('input[name=username]').fill(who.username);
    await page.locator('input[name=password]').fill(who.password);
  }
  await page.getByRole('button', { name: 'Sign in' }).click();
}
