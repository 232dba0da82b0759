/**
 * The relay front's AUTH hook (src/smtp/auth-hook.ts), called as smtp-server calls it, with sessions from network
 * addresses: tests may only use loopback, which the hook lets authenticate without TLS and which has a single IPv6
 * address. tests/smtp/per-ip-cap.test.ts drives the failure cap over real sockets.
 */
import type { SMTPServerSession } from 'smtp-server';
import { smtpAuthHook } from '../../src/smtp/auth-hook';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let user: string;
let pass: string;

beforeAll(async () => {
  h = await startHarness({ SMTP_MAX_AUTH_FAILURES: '2' });
  const s = await senderSetup(h);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  ({ SMTPUsername: user, SMTPPassword: pass } = c.SMTP);
});
afterAll(() => h.close());

type Hook = ReturnType<typeof smtpAuthHook>;

/** The hook's answer: 'ok', or the reply's code. */
const authFrom = (onAuth: Hook, remoteAddress: string, o: { secure?: boolean; username?: string; password?: string } = {}) =>
  new Promise<string>((resolve) =>
    onAuth(
      { method: 'PLAIN', username: o.username ?? 'nobody', password: o.password ?? 'wrong', validatePassword: () => false },
      { id: remoteAddress, remoteAddress, secure: o.secure ?? true } as SMTPServerSession,
      (err) => resolve(err ? String((err as { responseCode?: number }).responseCode) : 'ok'),
    ),
  );

describe('a password never crosses the network in clear', () => {
  it('refuses AUTH without TLS from a network address with 538, before reading the credentials, and counts no failure', async () => {
    const onAuth = smtpAuthHook(h.services);
    for (let i = 0; i < 3; i += 1) expect(await authFrom(onAuth, '192.0.2.10', { secure: false, username: user, password: pass })).toBe('538');
    expect(await authFrom(onAuth, '192.0.2.10', { username: user, password: pass })).toBe('ok');
  });

  it('takes AUTH without TLS from loopback, and from anywhere with SMTP_ALLOW_INSECURE_AUTH', async () => {
    expect(await authFrom(smtpAuthHook(h.services), '127.0.0.1', { secure: false, username: user, password: pass })).toBe('ok');
    const lax = smtpAuthHook({ ...h.services, config: { ...h.services.config, smtpAllowInsecureAuth: true } });
    expect(await authFrom(lax, '192.0.2.11', { secure: false, username: user, password: pass })).toBe('ok');
  });
});

describe('SMTP AUTH failures of an IPv6 client are counted by its /64', () => {
  it('refuses a third try from another address of the same /64, even with the right password, and not one from the next /64 or IPv4', async () => {
    const onAuth = smtpAuthHook(h.services);
    expect(await authFrom(onAuth, '2001:db8:5:6::1')).toBe('535');
    expect(await authFrom(onAuth, '2001:db8:5:6:ffff::2')).toBe('535');
    expect(await authFrom(onAuth, '2001:db8:5:6:abcd:1:2:3')).toBe('454');
    expect(await authFrom(onAuth, '2001:db8:5:6::9', { username: user, password: pass })).toBe('454');
    expect(await authFrom(onAuth, '2001:db8:5:7::1')).toBe('535');
    expect(await authFrom(onAuth, '::ffff:192.0.2.7')).toBe('535');
  });
});
