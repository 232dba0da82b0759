import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import type { Services } from '../command';
import { clientPrefix } from '../auth/client-prefix';
import { canonicalIp } from '../auth/users';
import { SmtpProof, smtpProof, verifySmtpProof } from './credentials';
import { reply } from './reply';
import { AuthAttempts } from './auth-attempts';

export function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip.startsWith('127.');
}

/** Which clients are on this machine (loopback; a test passes its own to look like a network client). */
export type IsLocal = (ip: string) => boolean;

/** Whether a client may send its password without TLS: a local one always, anyone under SMTP_ALLOW_INSECURE_AUTH. */
function mayAuthInClear(config: Services['config'], ip: string, isLocal: IsLocal): boolean {
  return isLocal(ip) || config.smtpAllowInsecureAuth;
}

/**
 * onConnect's part: on a plain connection from a client that may not authenticate in clear, AUTH is not offered and
 * not accepted until STARTTLS (onSecure lifts it). Refusing in onAuth is too late: smtp-server's AUTH LOGIN asks for
 * the username and the password before onAuth is called, so the client had sent its password in clear by the 538.
 */
export function hideAuthInClear(config: Services['config'], session: SMTPServerSession, isLocal: IsLocal = isLoopback): void {
  if (!session.secure && !mayAuthInClear(config, canonicalIp(session.remoteAddress), isLocal)) session.disabledCommands = ['AUTH'];
}

/** onSecure: once TLS is up, the listener's own command list applies again (AUTH included). */
export function offerAuthOverTls(_socket: unknown, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
  session.disabledCommands = undefined;
  cb();
}

/** A session that authenticated: its proof is checked again at each MAIL FROM (src/smtp/front.ts). */
export type ProvedSession = SMTPServerSession & { smtpProof?: SmtpProof };

type AuthCallback = (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void;

/**
 * The relay front's onAuth: the domain's SMTP credentials, only over TLS unless from loopback (or
 * SMTP_ALLOW_INSECURE_AUTH), and at most SMTP_MAX_AUTH_FAILURES failures per client in 15 minutes, an IPv6 client
 * counted by its /64 (clientPrefix), so a host given a /64 cannot try again from each of its addresses. Attempts
 * sent together are held to the failures left (src/smtp/auth-attempts.ts).
 */
export function smtpAuthHook(services: Services, isLocal: IsLocal = isLoopback) {
  const { config, logger } = services;
  const failures = services.limits.limit('smtp-auth-fail', config.smtpMaxAuthFailures, 900);
  // A client has at most one attempt per connection, and its connections are capped (counted by clientPrefix too).
  const attempts = new AuthAttempts(config.smtpMaxConnectionsPerIp);
  return function onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: AuthCallback): void {
    const ip = canonicalIp(session.remoteAddress);
    // hideAuthInClear keeps such clients from reaching here; this stays for a listener that does not use it.
    if (!session.secure && !mayAuthInClear(config, ip, isLocal)) {
      return cb(reply(538, '5.7.11 Encryption required: issue STARTTLS before AUTH'));
    }
    (async () => {
      const client = clientPrefix(ip);
      const proof = smtpProof(auth.username ?? '', auth.password ?? '');
      const verdict = await attempts.run(
        client,
        () => failures.left(client),
        async () => {
          const who = await verifySmtpProof(services.store, proof);
          if (!who) await failures.consume(client);
          return who;
        },
      );
      if (verdict === 'spent') return cb(reply(454, '4.7.0 Too many failed authentications from your address; try again later'));
      if (verdict === 'crowded') return cb(reply(454, '4.7.0 Too many authentications at once from your address; try again later'));
      if (!verdict) return cb(reply(535, '5.7.8 Authentication credentials invalid'));
      (session as ProvedSession).smtpProof = proof;
      cb(null, { user: verdict as unknown as string });
    })().catch((err) => {
      logger.error('smtp auth failed', { error: (err as Error).message });
      cb(reply(454, '4.7.0 Temporary authentication failure'));
    });
  };
}
