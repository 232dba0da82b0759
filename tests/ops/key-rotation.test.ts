/**
 * Rotating ENCRYPTION_KEY (docs/secrets.md): an install restarted with a new key and the old one in
 * ENCRYPTION_KEY_PREVIOUS still signs with its DKIM keys, shows its webhook signing key, and takes the tracking links
 * and bounce addresses of mail sent before; `postern reencrypt` reseals every stored secret with the new key, after
 * which the old key is not needed for them, and links made with it are refused once it is dropped.
 */
import crypto from 'node:crypto';
import { simpleParser } from 'mailparser';
import { Writable } from 'node:stream';
import { Cli, runCli } from '../../src/cli/program';
import { openInstallation } from '../../src/cli/installation';
import { decrypt, encrypt } from '../../src/auth/secrets';
import { loadConfig } from '../../src/config';
import { start } from '../../src/main';
import { createDeliveryWorker } from '../../src/delivery/worker';
import { startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { relayEnv } from '../helpers/rig';
import { dkimVerdict, publishedDkim } from '../helpers/dkim';
import { Sink, startSink, waitFor } from '../helpers/sink';

const BASE = 'http://track.postern.test';
const KEY_A = crypto.randomBytes(32).toString('hex');
const KEY_B = crypto.randomBytes(32).toString('hex');

let sink: Sink;
let first: Harness;
const opened: Harness[] = [];
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  sink = await startSink();
  first = await startHarness({ ...relayEnv(sink.port), TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0', ENCRYPTION_KEY: KEY_A });
  s = await senderSetup(first);
});
afterAll(async () => {
  // The harnesses that joined the first one's database close first: the first one's close empties it.
  for (const h of opened.reverse()) await h.close();
  await first.close();
  await sink.close();
});

/** The same install (database and Redis prefix) restarted with other keys. */
async function restarted(keys: Record<string, string>): Promise<Harness> {
  const { DATABASE_URL, REDIS_PREFIX } = first.env;
  const h = await startHarness({ ...relayEnv(sink.port), TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0', DATABASE_URL, REDIS_PREFIX, ...keys });
  opened.push(h);
  return h;
}

/** Sends one tracked message through `h`'s API and its own delivery worker; resolves to what reached the sink. */
async function sendThrough(h: Harness, to: string) {
  const worker = createDeliveryWorker(h.services);
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'Keys',
        ContentType: 'html',
        HTMLContent: '<p><a href="https://shop.example/a">Buy</a></p>',
        From: { email: `shop@${s.domain}` },
        To: [{ email: to }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(() => sink.received.some((r) => r.to[0] === to), 15000, `the delivery to ${to}`);
  } finally {
    await h.services.queues.close();
    await worker.stop();
  }
  const got = sink.received.find((r) => r.to[0] === to)!;
  const html = String((await simpleParser(got.raw)).html);
  const click = /href="http:\/\/track\.postern\.test(\/t\/c\/[^"]+)"/.exec(html)![1];
  return { raw: got.raw, returnPath: got.from, click };
}

const clickThrough = (h: Harness, path: string) => h.request('GET', path, { headers: { Host: 'track.postern.test' } });

async function signingKey(h: Harness): Promise<string> {
  return (await h.call({ Command: 'emailgateway.getwebhooks', SessionID: s.sessionId, DomainID: s.domainId })).SigningKey;
}

async function reencrypt(env: Record<string, string>): Promise<{ code: number; json: any; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sinkOf = (add: (t: string) => void) => new Writable({ write: (chunk, _e, done) => (add(String(chunk)), done()) });
  const cli = new Cli({ env, stdout: sinkOf((t) => (stdout += t)), stderr: sinkOf((t) => (stderr += t)) }, openInstallation);
  const code = await runCli(['node', 'postern', 'reencrypt'], cli, async () => undefined);
  return { code, json: JSON.parse(stdout), stderr };
}

/** A DSN for `rcpt` to the VERP address, through `h`'s bounce intake: resolves to the delivery's status after it. */
async function bounce(h: Harness, verp: string, rcpt: string): Promise<void> {
  const inbound = await startInboundSmtp(h.services);
  try {
    const nodemailer = await import('nodemailer');
    const dsn = [
      `From: MAILER-DAEMON@recipient.test`,
      `To: ${verp}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'gone',
      '--b',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.recipient.test',
      '',
      `Final-Recipient: rfc822; ${rcpt}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 no such user',
      '--b--',
      '',
    ].join('\r\n');
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any)
      .sendMail({ envelope: { from: '', to: [verp] }, raw: dsn });
  } finally {
    await inbound.close();
  }
}

describe('rotating ENCRYPTION_KEY', () => {
  it('keeps secrets, links and bounce addresses working through the rotation, and reseals with postern reencrypt', async () => {
    const dkim = await publishedDkim(first, s.sessionId, s.domainId);
    const before = await sendThrough(first, 'before@recipient.test');
    expect((await dkimVerdict(before.raw, s.domain, dkim)).result).toBe('pass');
    const hookKey = await signingKey(first);

    // Restarted with a new key, the old one as previous: everything sealed or signed with the old key still works.
    const during = await restarted({ ENCRYPTION_KEY: KEY_B, ENCRYPTION_KEY_PREVIOUS: KEY_A, INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
    expect(await signingKey(during)).toBe(hookKey);
    const sent = await sendThrough(during, 'during@recipient.test');
    expect((await dkimVerdict(sent.raw, s.domain, dkim)).result).toBe('pass');
    expect((await clickThrough(during, before.click)).status).toBe(302);
    await bounce(during, before.returnPath, 'before@recipient.test');
    await waitFor(
      async () => (await during.services.db('deliveries').where({ recipient: 'before@recipient.test' }).first('status')).status === 'bounced',
      10000,
      'the bounce of mail sent under the old key',
    );

    // Resealed: every stored secret now opens with the new key alone; running it again has nothing left to do.
    const done = await reencrypt(during.env);
    expect(done.code).toBe(0);
    expect(done.json).toMatchObject({ Resealed: 2, Unreadable: [], Remaining: 0 });
    expect((await reencrypt(during.env)).json).toMatchObject({ Resealed: 0, Unreadable: [] });

    const after = await restarted({ ENCRYPTION_KEY: KEY_B });
    expect(await signingKey(after)).toBe(hookKey);
    const later = await sendThrough(after, 'after@recipient.test');
    expect((await dkimVerdict(later.raw, s.domain, dkim)).result).toBe('pass');
    // Links made with the dropped key are refused; the new key's are taken.
    expect((await clickThrough(after, before.click)).status).toBe(404);
    expect((await clickThrough(after, sent.click)).status).toBe(302);
  });

  it('names what no key opens, and exits 1, so a rotation stops before the old key is dropped', async () => {
    const r = await reencrypt({ ...first.env, ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex') });
    expect(r.code).toBe(1);
    expect(r.json.Unreadable).toEqual(expect.arrayContaining([{ Table: 'sender_domains', Column: 'dkim_private_key_enc', Id: s.domainId }]));
    expect(r.stderr).toMatch(/open with none of the keys given/);
  });

  it('refuses to start on a key that opens none of the stored DKIM keys, saying what to set', async () => {
    const config = loadConfig({ ...first.env, ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'), PORT: '0', HOST: '127.0.0.1' }, 'api');
    const outcome = await start(config).then(
      async (running) => (await running.stop(), 'started'),
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/ENCRYPTION_KEY opens none of the 1 stored DKIM keys checked.*ENCRYPTION_KEY_PREVIOUS/);
  });

  it('starts on a key that opens only some stored DKIM keys, warning how many and what to set', async () => {
    // Two new domains of the first install, sealed with KEY_A; one is resealed under KEY_B, which the start below has.
    await senderSetup(first);
    const resealed = await senderSetup(first);
    const row = await first.services.db('sender_domains').where({ id: resealed.domainId }).first('dkim_private_key_enc');
    const pem = decrypt(row.dkim_private_key_enc, Buffer.from(KEY_A, 'hex'));
    await first.services
      .db('sender_domains')
      .where({ id: resealed.domainId })
      .update({ dkim_private_key_enc: encrypt(pem, Buffer.from(KEY_B, 'hex')) });
    const config = loadConfig({ ...first.env, ENCRYPTION_KEY: KEY_B, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, 'api');
    // The log's console transport writes to console._stdout when the console has one (jest's has: process.stdout in a
    // run of one file, its own buffer beside other files), else through console.log.
    const written: string[] = [];
    const out = (console as unknown as { _stdout?: NodeJS.WriteStream })._stdout;
    const spies = [
      ...(out ? [jest.spyOn(out, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true))] : []),
      jest.spyOn(console, 'log').mockImplementation((line: unknown) => void written.push(String(line))),
    ];
    try {
      await (await start(config)).stop();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const entries = written.flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    });
    // The file's first domain is under KEY_B after the rotation test, under KEY_A when this test runs alone.
    const warning = entries.find((e) => e.level === 'warn' && /DKIM keys/.test(e.message));
    expect(warning.unreadable).toBeGreaterThanOrEqual(1);
    expect(warning.checked - warning.unreadable).toBeGreaterThanOrEqual(1);
    expect(warning.message).toMatch(
      new RegExp(
        `open only ${warning.checked - warning.unreadable} of the ${warning.checked} stored DKIM keys checked.*ENCRYPTION_KEY_PREVIOUS.*postern reencrypt`,
      ),
    );
  });

  it('refuses ENCRYPTION_KEY_PREVIOUS without ENCRYPTION_KEY, or listing ENCRYPTION_KEY itself', async () => {
    expect(() => loadConfig({ ENCRYPTION_KEY_PREVIOUS: KEY_A })).toThrow(/needs ENCRYPTION_KEY/);
    expect(() => loadConfig({ ENCRYPTION_KEY: KEY_A, ENCRYPTION_KEY_PREVIOUS: `${KEY_B},${KEY_A}` })).toThrow(/must not list ENCRYPTION_KEY itself/);
    expect(() => loadConfig({ ENCRYPTION_KEY: KEY_A, ENCRYPTION_KEY_PREVIOUS: 'short' })).toThrow(/ENCRYPTION_KEY_PREVIOUS must be 32 bytes/);
  });
});
