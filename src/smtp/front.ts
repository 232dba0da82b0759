import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Services } from '../command';
import { isEnabled, yesNo, canonicalIp } from '../auth/users';
import { activationAdvice, STATUS } from '../domains/domains';
import { acceptRaw } from '../mail/accept-raw';
import { suppressedAmongShared } from '../suppression/suppressions';
import { SmtpIdentity, smtpIdentityByUsername, verifySmtpProof } from './credentials';
import { lineEndingProblem, MAX_HEADER_OCTETS } from './message-rules';
import './greeting';
import { instrumentSmtp } from '../ops/smtp-metrics';
import { perIpConnectionLimit } from './per-ip-limit';
import { authDeadline } from './auth-deadline';
import { AccountConnections, sessionLifetime } from './session-limits';
import { hideAuthInClear, IsLocal, isLoopback, offerAuthOverTls, ProvedSession, smtpAuthHook } from './auth-hook';
import { reply } from './reply';
import { asciiAddress } from './envelope-address';
import { isEmail } from '../auth/user-fields';
import { lazy } from '../lazy';

// Only when DATA_DIR has no pair yet (src/lazy.ts): selfsigned brings @peculiar/x509, some 640 files and ~0.35 s of
// CPU that a start with configured or already-made files, and a process that only imports this file, need not spend.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by the import type
const selfsigned = lazy(() => require('selfsigned') as typeof import('selfsigned'));

/** PEM pair for STARTTLS: configured files, or a self-signed pair made once in DATA_DIR for development. */
async function tlsMaterial(services: Services): Promise<{ key: Buffer; cert: Buffer }> {
  const { config } = services;
  if (config.smtpTlsCert && config.smtpTlsKey) return { key: fs.readFileSync(config.smtpTlsKey), cert: fs.readFileSync(config.smtpTlsCert) };
  const keyFile = path.join(config.dataDir, 'smtp-selfsigned.key');
  const certFile = path.join(config.dataDir, 'smtp-selfsigned.crt');
  if (!fs.existsSync(keyFile) || !fs.existsSync(certFile)) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    const pems = await selfsigned().generate([{ name: 'commonName', value: config.mailHostname }], {
      notAfterDate: new Date(Date.now() + 3650 * 86400_000),
      keySize: 2048,
    });
    fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
    fs.writeFileSync(certFile, pems.cert);
    services.logger.warn('SMTP TLS uses a self-signed certificate; set SMTP_TLS_CERT and SMTP_TLS_KEY in production', { certFile });
  }
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) };
}

export interface SmtpFront {
  ports: number[];
  close(): Promise<void>;
}

/**
 * The relay front (role `smtp`): AUTH PLAIN/LOGIN with the domain's SMTP credentials, then the message goes
 * through the same persist → queue → deliver path as /api/v1/email. Every refusal is an SMTP reply with an
 * enhanced status code and a sentence.
 */
export async function startSmtpFront(services: Services, opts: { isLocal?: IsLocal } = {}): Promise<SmtpFront> {
  const { config, logger } = services;
  const tls = await tlsMaterial(services);
  const perIp = perIpConnectionLimit(config.smtpMaxConnectionsPerIp);
  const isLocal = opts.isLocal ?? isLoopback;
  const onAuth = smtpAuthHook(services, isLocal);
  // What the front takes (and advertises as SIZE): no more than one database row can hold (Store.maxRowBytes).
  const maxBytes = Math.min(config.smtpMaxMessageBytes, await services.store.maxRowBytes());

  const identity = (session: SMTPServerSession) => session.user as unknown as SmtpIdentity | undefined;

  function checkSender(who: SmtpIdentity, address: string, cb: (err?: Error | null) => void): void {
    if (!isEnabled(who.user) || !yesNo(who.user.verified)) return cb(reply(550, '5.7.1 The sending account is disabled or not verified'));
    if (who.domain.status !== STATUS.enabled)
      return cb(reply(550, `5.7.1 Sender domain ${who.domain.domain} is not activated; ${activationAdvice(who.domain)}`));
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (domain !== who.domain.domain) return cb(reply(553, `5.7.1 Sender address must be on ${who.domain.domain}`));
    cb();
  }

  const deadline = authDeadline(config.smtpAuthTimeoutSeconds * 1000, (session) => !!config.smtpTrustedClients[canonicalIp(session.remoteAddress)]);
  const lifetime = sessionLifetime(config.smtpSessionMaxSeconds * 1000);
  const accounts = new AccountConnections(config.smtpMaxConnectionsPerAccount);
  // AUTH succeeds only while the account has a connection slot left (per process, as the per-address cap).
  const onAuthCounted: typeof onAuth = (auth, session, cb) =>
    onAuth(auth, session, (err, res) => {
      const who = res?.user as unknown as SmtpIdentity | undefined;
      if (err || !who) return cb(err, res);
      if (accounts.take(session, Number(who.user.id))) return cb(null, res);
      cb(reply(421, `4.7.0 This account already has ${config.smtpMaxConnectionsPerAccount} connections open; try again later`));
    });
  const makeServer = (secure: boolean): SMTPServer => {
    const server: SMTPServer = new SMTPServer(
      instrumentSmtp(services.metrics, {
        secure,
        key: tls.key,
        cert: tls.cert,
        name: config.mailHostname,
        banner: 'Postern ESMTP',
        authMethods: ['PLAIN', 'LOGIN'],
        // Decided per connection: hideAuthInClear withholds AUTH before TLS from all but loopback (or everyone
        // under SMTP_ALLOW_INSECURE_AUTH); smtp-server's own switch is for the whole listener.
        allowInsecureAuth: true,
        authOptional: true, // onMailFrom demands AUTH, except from SMTP_TRUSTED_CLIENTS
        disableReverseLookup: true,
        // Our option (src/smtp/greeting.ts): greet after SMTP_GREETING_DELAY_MS instead of smtp-server's fixed 100 ms.
        ...({ greetingDelayMs: config.smtpGreetingDelayMs } as object),
        size: maxBytes,
        logger: false,
        closeTimeout: 5000,
        maxClients: config.smtpMaxConnections,
        onConnect(session, cb) {
          hideAuthInClear(config, session, isLocal);
          perIp.onConnect(session, (err) => {
            if (!err) {
              deadline.onConnect(() => server, session);
              lifetime.onConnect(() => server, session);
            }
            cb(err);
          });
        },
        onSecure: offerAuthOverTls,
        onClose(session) {
          deadline.onClose(session);
          lifetime.onClose(session);
          accounts.release(session);
          perIp.onClose(session);
        },
        onAuth: onAuthCounted,
        onMailFrom(address, session, cb) {
          // The credential is looked up again for every transaction (cached SENDER_AUTH_CACHE_MS), not only at AUTH:
          // a reset password, a deleted login, or a disabled account or domain ends an open connection's sending too.
          // A trusted address sends as its configured credential without AUTH.
          // Only while the session is logged in: smtp-server logs it out at STARTTLS (RFC 3207 §4.2), proof or not.
          const proof = session.user ? (session as ProvedSession).smtpProof : undefined;
          const trusted = config.smtpTrustedClients[canonicalIp(session.remoteAddress)];
          const lookup = proof ? verifySmtpProof(services.store, proof) : trusted ? smtpIdentityByUsername(services.store, trusted) : null;
          if (!lookup) return cb(reply(530, '5.7.0 Authentication required'));
          lookup.then(
            (who) => {
              if (!who) return cb(reply(530, `5.7.0 Authentication required${proof ? ": this session's credentials are no longer valid" : ''}`));
              session.user = who as unknown as string;
              checkSender(who, asciiAddress(address.address), cb);
            },
            () => cb(reply(451, '4.3.0 Temporary failure; try again')),
          );
        },
        onRcptTo(address, session, cb) {
          // The API's address rule: smtp-server also takes the domainless `postmaster` (RFC 5321 §4.1.1.3), meant for
          // this host, and IP literals (`x@[10.0.0.5]`), which the API refuses and the delivery path cannot route.
          // Suppressions hold ASCII domains, as the API stores them.
          const rcpt = asciiAddress(address.address);
          if (!isEmail(rcpt)) return cb(reply(553, '5.1.3 Bad recipient address syntax'));
          const who = identity(session)!;
          if (session.envelope.rcptTo.length >= config.smtpMaxRecipients)
            return cb(reply(452, `4.5.3 Too many recipients (at most ${config.smtpMaxRecipients} per message)`));
          suppressedAmongShared(services.store, who.domain.id, [rcpt]).then(
            (hit) => (hit.size ? cb(reply(550, `5.7.1 Recipient ${rcpt} is on the suppression list of ${who.domain.domain}`)) : cb()),
            (err) => {
              logger.error('smtp rcpt check failed', { error: (err as Error).message });
              cb(reply(451, '4.3.0 Temporary failure; try again'));
            },
          );
        },
        onData(stream, session, cb) {
          const chunks: Buffer[] = [];
          const over = () => (stream as unknown as { sizeExceeded?: boolean }).sizeExceeded;
          // Past the size limit smtp-server only sets a flag and keeps streaming: the rest is read and dropped, not held.
          stream.on('data', (c: Buffer) => {
            if (!over()) chunks.push(c);
          });
          stream.on('end', () => {
            if (over()) {
              return cb(reply(552, `5.3.4 Message too big (at most ${maxBytes} bytes)`));
            }
            const raw = Buffer.concat(chunks);
            const framing = lineEndingProblem(raw);
            if (framing) return cb(reply(554, `5.5.2 Message refused: ${framing}`));
            const who = identity(session)!;
            // Stored with ASCII domains, as the API stores addresses (the envelope holds smtp-server's Unicode ones).
            const mailFrom = session.envelope.mailFrom ? asciiAddress(session.envelope.mailFrom.address) : '';
            acceptRaw(
              services,
              { user: who.user, domain: who.domain, apiKeyId: null, source: 'smtp' },
              { mailFrom, rcptTo: session.envelope.rcptTo.map((r) => asciiAddress(r.address)), raw, recipientsChecked: true },
            ).then(
              (r) => {
                if (r.ok) return cb(null, `2.0.0 Ok: queued as ${r.messageId}`);
                const byReason = {
                  user: reply(550, '5.7.1 The sending account is disabled or not verified'),
                  domain: reply(550, `5.7.1 ${r.message}`),
                  sender: reply(553, `5.7.1 ${r.message}`),
                  from: reply(553, `5.7.1 ${r.message}`),
                  content: reply(554, `5.6.0 Message refused: ${r.message}`),
                  header: reply(552, `5.3.4 Message header too large (at most ${MAX_HEADER_OCTETS} octets)`),
                  suppressed: reply(550, `5.7.1 ${r.message}`),
                  quota: reply(451, '4.7.1 Sending limit of this account reached; try again later'),
                  empty: reply(554, '5.5.1 No valid recipients'),
                };
                cb(byReason[r.reason]);
              },
              (err) => {
                logger.error('smtp accept failed', { error: (err as Error).stack });
                cb(reply(451, '4.3.0 Temporary failure; try again'));
              },
            );
          });
        },
      }),
    );
    return server;
  };

  const listeners: { server: SMTPServer; port: number }[] = [];
  const listen = async (server: SMTPServer, port: number) => {
    server.on('error', (err) => logger.warn('smtp connection error', { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, config.smtpHost, () => resolve());
    });
    listeners.push({ server, port: (server.server.address() as AddressInfo).port });
  };
  await listen(makeServer(false), config.smtpPort);
  if (config.smtpSubmissionPort) await listen(makeServer(false), config.smtpSubmissionPort);
  if (config.smtpTlsPort && config.smtpTlsCert && config.smtpTlsKey) await listen(makeServer(true), config.smtpTlsPort);
  logger.info('smtp listening', { ports: listeners.map((l) => l.port) });
  return {
    ports: listeners.map((l) => l.port),
    async close() {
      await Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
    },
  };
}
