import nodemailer from 'nodemailer';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

/**
 * With SENDER_AUTH_CACHE_MS set, the relay front reuses a verified AUTH for that long (a client that connects and
 * authenticates for every message then costs no queries for it). Only the same correct username and password
 * find the entry, failures are never kept, and a management command in this process forgets everything at once.
 */
let h: Harness;
let front: SmtpFront;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', SENDER_AUTH_CACHE_MS: '60000' });
  front = await startSmtpFront(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await front.close();
  await h.close();
});

async function credential(): Promise<{ user: string; pass: string }> {
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  return { user: c.SMTP.SMTPUsername, pass: c.SMTP.SMTPPassword };
}

/** One message on a new connection (pool off), as a non-pooling client sends. */
function sendOnce(user: string, pass: string): Promise<{ response: string }> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, auth: { user, pass }, tls: { rejectUnauthorized: false } });
  return t.sendMail({ from: `app@${s.domain}`, to: 'to@dest.test', subject: 'cached auth', text: 'x' }).finally(() => t.close());
}

const lastUsed = async (username: string) => Number((await h.services.db('smtp_credentials').where({ username }).first('last_used_at')).last_used_at);

test('a verified AUTH is reused: a change made behind the API does not show until the entry expires, and last use is written once', async () => {
  const c = await credential();
  expect((await sendOnce(c.user, c.pass)).response).toMatch(/^250 2\.0\.0 Ok: queued as /);
  const first = await lastUsed(c.user);
  expect(first).toBeGreaterThan(0);
  // Disabled directly in the database, not through a command: the cached identity still answers.
  await h.services.db('smtp_credentials').where({ username: c.user }).update({ status: 'Disabled' });
  await new Promise((r) => setTimeout(r, 5));
  expect((await sendOnce(c.user, c.pass)).response).toMatch(/^250 /);
  expect(await lastUsed(c.user)).toBe(first);
});

test('a wrong password never finds the cached entry, and failures are not kept', async () => {
  const c = await credential();
  await expect(sendOnce(c.user, c.pass + 'x')).rejects.toMatchObject({ responseCode: 535 });
  expect((await sendOnce(c.user, c.pass)).response).toMatch(/^250 /);
  await expect(sendOnce(c.user, c.pass.slice(0, -1))).rejects.toMatchObject({ responseCode: 535 });
});

test('deleting the credential with its command forgets it at once in this process', async () => {
  const c = await credential();
  expect((await sendOnce(c.user, c.pass)).response).toMatch(/^250 /);
  const row = await h.services.db('smtp_credentials').where({ username: c.user }).first('id');
  const del = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: s.sessionId, SMTPID: Number(row.id) });
  expect(del).toMatchObject({ Success: true });
  await expect(sendOnce(c.user, c.pass)).rejects.toMatchObject({ responseCode: 535 });
});

test('emailgateway.smtprelay reuses a verified credential too, and calling it does not empty the caches', async () => {
  const c = await credential();
  const relay = (pass = c.pass) => h.call({ Command: 'emailgateway.smtprelay', AdminAPIKey: h.adminKey, SMTPUsername: c.user, SMTPPassword: pass });
  expect(await relay()).toMatchObject({ Success: true, ErrorCode: 0 });
  // Revoked behind the API's back: the entry from the first call answers, because smtprelay itself (unlike a
  // management command) leaves the caches alone.
  await h.services.db('smtp_credentials').where({ username: c.user }).update({ status: 'Disabled' });
  expect(await relay()).toMatchObject({ Success: true, ErrorCode: 0 });
  expect(await relay('wrong')).toMatchObject({ Success: false, ErrorCode: 3 });
  // Any management command forgets it.
  await h.call({ Command: 'emailgateway.getdomains', SessionID: s.sessionId });
  expect(await relay()).toMatchObject({ Success: false, ErrorCode: 3 });
});

test('a username is matched without regard to case, on both databases', async () => {
  const c = await credential();
  expect(c.user).toBe(c.user.toLowerCase());
  expect((await sendOnce(c.user.toUpperCase(), c.pass)).response).toMatch(/^250 /);
});
