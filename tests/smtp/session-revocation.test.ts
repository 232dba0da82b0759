/**
 * An SMTP connection that authenticated stops sending once its credentials or its account stop being good: the login
 * is looked up again at every MAIL FROM, not only at AUTH (before, a connection kept alive with NOOP went on sending
 * as the domain after its password was reset, its login deleted or its account disabled).
 */
import tls from 'node:tls';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { RawSmtp, rawSmtp, smtpOver } from '../helpers/smtp-raw';

let h: Harness;
let front: SmtpFront;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  front = await startSmtpFront(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await front.close();
  await h.services.queues.close();
  await h.close();
});

async function login(): Promise<{ id: number; user: string; pass: string }> {
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  expect(c.Success).toBe(true);
  return { id: c.NewSMTPID, user: c.SMTP.SMTPUsername, pass: c.SMTP.SMTPPassword };
}

/** A connection authenticated as `who` that has sent one message. */
async function session(who: { user: string; pass: string }): Promise<RawSmtp> {
  const c = await rawSmtp(front.ports[0]);
  for (const [line, code] of [
    ['EHLO client.test', '250'],
    [`AUTH PLAIN ${Buffer.from(`\0${who.user}\0${who.pass}`).toString('base64')}`, '235'],
  ]) {
    c.send(`${line}\r\n`);
    expect((await c.reply()).slice(0, 3)).toBe(code);
  }
  expect(await transaction(c)).toMatch(/^250 2\.0\.0 Ok: queued as/);
  return c;
}

/** MAIL FROM to the end of DATA on an open connection; the first reply that is not a go-ahead. */
async function transaction(c: RawSmtp): Promise<string> {
  for (const [line, go] of [
    [`MAIL FROM:<app@${s.domain}>`, '250'],
    ['RCPT TO:<r@dest.test>', '250'],
    ['DATA', '354'],
    [`From: app@${s.domain}\r\nTo: r@dest.test\r\nSubject: again\r\n\r\nhello\r\n.`, ''],
  ]) {
    c.send(`${line}\r\n`);
    const r = await c.reply();
    if (!go || !r.startsWith(go)) return r;
  }
  throw new Error('unreachable');
}

it('refuses the next transaction of an open connection once its password is reset or its login deleted', async () => {
  const reset = await login();
  const a = await session(reset);
  expect((await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: s.sessionId, SMTPID: reset.id })).Success).toBe(true);
  expect(await transaction(a)).toBe("530 5.7.0 Authentication required: this session's credentials are no longer valid");
  a.close();

  const deleted = await login();
  const b = await session(deleted);
  expect((await h.call({ Command: 'emailgateway.deletesmtp', SessionID: s.sessionId, SMTPID: deleted.id })).Success).toBe(true);
  expect(await transaction(b)).toBe("530 5.7.0 Authentication required: this session's credentials are no longer valid");
  b.close();
});

it('logs a session out at STARTTLS (RFC 3207): a login made in clear does not carry over into TLS', async () => {
  const who = await login();
  const plain = await rawSmtp(front.ports[0]);
  const say = async (line: string) => (plain.send(`${line}\r\n`), plain.reply());
  expect(await say('EHLO client.test')).toMatch(/^250/);
  // In clear, allowed from loopback.
  expect(await say(`AUTH PLAIN ${Buffer.from(`\0${who.user}\0${who.pass}`).toString('base64')}`)).toMatch(/^235 /);
  expect(await say('STARTTLS')).toMatch(/^220 /);
  const socket = plain.socket;
  socket.removeAllListeners('data');
  const secure = tls.connect({ socket, rejectUnauthorized: false });
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  const overTls = smtpOver(secure);
  const sayTls = async (line: string) => (overTls.send(`${line}\r\n`), overTls.reply());
  expect(await sayTls('EHLO client.test')).toMatch(/^250/);
  expect(await sayTls(`MAIL FROM:<app@${s.domain}>`)).toBe('530 5.7.0 Authentication required');
  secure.destroy();
});

it('refuses the next transaction of an open connection once its account is disabled, and sends again once it is enabled', async () => {
  const c = await session(await login());
  const status = (AccountStatus: string) => h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, AccountStatus });
  expect((await status('Disabled')).Success).toBe(true);
  expect(await transaction(c)).toBe('550 5.7.1 The sending account is disabled or not verified');
  c.send('RSET\r\n');
  expect(await c.reply()).toMatch(/^250/);
  expect((await status('Enabled')).Success).toBe(true);
  expect(await transaction(c)).toMatch(/^250 2\.0\.0 Ok: queued as/);
  c.close();
});
