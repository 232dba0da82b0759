import type { AddressInfo } from 'node:net';
import { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Services } from '../command';
import { composeHosts, normalizeDomain } from '../domains/names';
import { processInbound } from './process';
import { DkimResolver, dkimResolver, dkimVerifier, MAX_VERIFIED_BYTES } from './complaint-trust';
import { cachedDkimResolver, dkimKeyCache } from './dkim-key-cache';
import { perIpConnectionLimit } from '../smtp/per-ip-limit';
import { clientPrefix } from '../auth/client-prefix';
import { canonicalIp } from '../auth/users';
import { reply } from '../smtp/reply';
import { asciiAddress } from '../smtp/envelope-address';
import { connectionDeadline } from '../smtp/auth-deadline';

/** True when `host` is the MFROM host of a sender domain (`sl.example.com`). */
async function isMfromHost(services: Services, host: string): Promise<boolean> {
  const h = normalizeDomain(host);
  if (!h || h.split('.').length < 3) return false;
  const row = await services
    .db('sender_domains')
    .where({ domain: h.slice(h.indexOf('.') + 1) })
    .first();
  return !!row && composeHosts(row, services.config).mfromHost === h;
}

/**
 * A bounce or complaint report has one recipient; a few more leave room for an MTA that groups them. Checked in
 * onRcptTo, before the domain lookup, rather than with smtp-server's maxRecipients, whose 452 carries no 4.5.3 here
 * (enhanced codes are off and ours are written into the text).
 */
const MAX_RECIPIENTS = 10;
/** Refused recipients one connection may try: each costs a lookup, and a real MTA sends to the hosts we told it of. */
const MAX_REFUSED_RECIPIENTS = 10;
/**
 * The most of one message the intake holds: the complaint check's DKIM limit plus a byte, so a longer message is seen
 * as too large to verify. The report parser and the store read less (REPORT_PARSE_BYTES).
 */
const MAX_HELD_BYTES = MAX_VERIFIED_BYTES + 1;

export interface InboundListener {
  port: number;
  close(): Promise<void>;
}

/**
 * The bounce and complaint intake (role smtp): an MX for the MFROM hosts, without AUTH, accepting mail only for
 * those hosts, storing everything it accepts and applying DSN and ARF reports to their deliveries. `dkimResolver`
 * answers the DKIM key lookups of COMPLAINT_TRUSTED_SOURCES as given (default: DNS_SERVERS, else the system's
 * resolvers, through a cache of this listener's own: src/inbound/dkim-key-cache.ts).
 */
export async function startInboundSmtp(services: Services, opts: { dkimResolver?: DkimResolver } = {}): Promise<InboundListener> {
  const { config, logger } = services;
  const resolver = opts.dkimResolver ?? cachedDkimResolver(dkimResolver(config), dkimKeyCache());
  // With COMPLAINT_TRUSTED_SOURCES set every complaint needs mailauth: a broken install fails here, not at the first one.
  if (config.complaintTrustedSources) dkimVerifier();
  // Open to anyone: at most SMTP_MAX_CONNECTIONS_PER_IP connections from one address, as on the relay front.
  const perIp = perIpConnectionLimit(config.smtpMaxConnectionsPerIp);
  // And at most INBOUND_MAX_MESSAGES_PER_MINUTE messages from one client: every one is stored and parsed, and a real
  // MTA takes a 451 as "later" and loses nothing.
  const perMinute = config.inboundMaxMessagesPerMinute ? services.limits.limit('inbound-msg', config.inboundMaxMessagesPerMinute, 60) : null;
  // Per connection, across its transactions (smtp-server keeps one session object and resets only its envelope).
  const refused = new WeakMap<SMTPServerSession, number>();
  // Without AUTH, authOptional turns off smtp-server's cap on unauthenticated commands and its idle timeout counts
  // only silence: a client sending NOOP every minute held a slot for ever. A real MTA reconnects for what it has left.
  const lifetime = connectionDeadline(
    config.inboundSessionMaxSeconds * 1000,
    () => `4.4.2 Session open ${Math.round(config.inboundSessionMaxSeconds)} s, the most this host allows; closing connection`,
  );
  const server = new SMTPServer({
    name: config.mailHostname,
    banner: 'Postern bounce intake',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    size: 10 * 1024 * 1024,
    logger: false,
    closeTimeout: 5000,
    maxClients: config.smtpMaxConnections,
    onConnect(session, cb) {
      perIp.onConnect(session, (err) => {
        if (!err) lifetime.onConnect(() => server, session);
        cb(err);
      });
    },
    onClose(session) {
      lifetime.onClose(session);
      perIp.onClose(session);
    },
    onMailFrom(_address, session, cb) {
      if (!perMinute) return cb();
      perMinute.consume(clientPrefix(canonicalIp(session.remoteAddress))).then(
        (v) => (v.allowed ? cb() : cb(reply(451, `4.7.1 Too many messages from your address; try again in ${v.retryAfterSec} seconds`))),
        () => cb(reply(451, '4.3.0 Temporary failure; try again')),
      );
    },
    onRcptTo(address, session, cb) {
      if ((refused.get(session) ?? 0) >= MAX_REFUSED_RECIPIENTS) return cb(reply(421, '4.7.0 Too many refused recipients; closing connection'));
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) return cb(reply(452, `4.5.3 Too many recipients (at most ${MAX_RECIPIENTS} per message)`));
      const host = address.address.slice(address.address.lastIndexOf('@') + 1);
      isMfromHost(services, host).then(
        (ok) => {
          if (ok) return cb();
          refused.set(session, (refused.get(session) ?? 0) + 1);
          cb(reply(550, '5.7.1 Relay access denied: this host receives only bounces for its return-path domains'));
        },
        () => cb(reply(451, '4.3.0 Temporary failure; try again')),
      );
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let held = 0;
      let size = 0;
      const over = () => (stream as unknown as { sizeExceeded?: boolean }).sizeExceeded;
      // Only the start is held: nothing reads past MAX_HELD_BYTES, and anyone may send 10 MiB on each of thousands of
      // connections at once (the rest is counted and dropped; past the size limit smtp-server only sets a flag).
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (over() || held >= MAX_HELD_BYTES) return;
        const part = c.length > MAX_HELD_BYTES - held ? c.subarray(0, MAX_HELD_BYTES - held) : c;
        // A copy when cut: a view would keep the whole chunk alive.
        chunks.push(part === c ? c : Buffer.from(part));
        held += part.length;
      });
      stream.on('end', () => {
        if (over()) return cb(reply(552, '5.3.4 Message too big'));
        processInbound(
          services,
          {
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            // smtp-server hands the domains over in Unicode; Postern stores and compares them in ASCII (xn--).
            rcptTo: session.envelope.rcptTo.map((r) => asciiAddress(r.address)),
            raw: Buffer.concat(chunks),
            size,
            remoteAddress: canonicalIp(session.remoteAddress),
          },
          { dkimResolver: resolver },
        ).then(
          // A trusted feedback loop's key could not be looked up for now: its MTA sends the report again later.
          (r) => cb(r.retry ? reply(451, `4.4.3 DKIM key lookup failed; try again later (stored as ${r.id})`) : null, `2.0.0 Ok: stored as ${r.id}`),
          (err) => {
            logger.error('inbound processing failed', { error: (err as Error).stack });
            cb(reply(451, '4.3.0 Temporary failure; try again'));
          },
        );
      });
    },
  });
  server.on('error', (err) => logger.warn('inbound smtp connection error', { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(config.inboundSmtpPort, config.smtpHost, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  logger.info('bounce intake listening', { port });
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
