/**
 * emailgateway.smtprelay (AdminAPIKey) — lets an external SMTP front (Haraka, Postfix) check SMTP credentials and
 * hand over a message (RawEmail with MailFrom and RcptTo) into Postern's delivery path. Every reply carries an
 * SMTPResponse the front can pass on, parameter failures too, and a scalar ErrorCode (the contract's failure example).
 * Codes 1–13 of the contract (13, credits, is never raised: Postern has none), Postern's 14: content the SMTP front
 * refuses too (docs/smtp-front.md), and 15: no RcptTo address, or one that is not an address (8 is the contract's
 * "suppressed", which told the sender a mistyped address was suppressed). 4 covers a From or Sender header outside
 * the domain, duplicated or naming a foreign address. Subject is accepted and not used. UUID makes a repeated call
 * idempotent (src/idempotency/relay-uuid.ts): the same UUID and message answer the first call's SMTPResponse and
 * MessageID for 24 h, and 16 (a 451) while the first call still runs (docs/octeth-upstream.md D9).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEnabled, yesNo } from '../src/auth/users';
import { STATUS } from '../src/domains/domains';
import { acceptRaw } from '../src/mail/accept-raw';
import { checkSmtpCredentials } from '../src/smtp/credentials';
import { bareCrProblem, headerSizeProblem, MAX_HEADER_OCTETS } from '../src/smtp/message-rules';
import { isEmail } from '../src/auth/user-fields';
import { claimRelayUuid } from '../src/idempotency/relay-uuid';
import { CommitStatement, IdempotencySuperseded } from '../src/idempotency/keys';

const RESPONSES: Record<number, string> = {
  1: '535 5.7.8 AUTH ERROR: missing username',
  2: '535 5.7.8 AUTH ERROR: missing password',
  3: '500 5.0.0 AUTH ERROR',
  4: '553 5.7.1 Sender address is not on the authenticated domain',
  5: '550 5.7.1 Sender domain is not activated',
  6: '550 5.7.1 Invalid user account',
  7: '550 5.7.1 Sending account is not trusted or not enabled',
  8: '550 5.7.1 Recipient address is suppressed',
  9: '452 4.5.3 Too many recipients',
  10: '452 4.5.3 Too many Cc recipients',
  11: '452 4.5.3 Too many Bcc recipients',
  12: '451 4.7.1 Sending limit reached; try again later',
  14: '554 5.6.0 Message content refused',
  15: '501 5.1.3 Bad recipient address syntax',
  16: '451 4.3.0 A relay call with this UUID is still in progress; try again later',
};

function fail(code: number, text?: string, smtpResponse = RESPONSES[code]): never {
  const err = new CommandError(code, text);
  err.extra = { SMTPResponse: smtpResponse };
  throw err;
}

/** Code 14 for a header block over MAX_HEADER_OCTETS, with the reply an SMTP front gives for it. */
function headerTooLarge(message: string): never {
  return fail(14, `Message content refused: ${message}`, `552 5.3.4 Message header too large (at most ${MAX_HEADER_OCTETS} octets)`);
}

export default defineCommand({
  name: 'emailgateway.smtprelay',
  auth: 'admin',
  sends: true,
  keepsCredentialCaches: true,
  scalarErrors: true,
  failureFields: (code) => ({ SMTPResponse: RESPONSES[code] ?? RESPONSES[3] }),
  errors: {
    1: 'Missing SMTPUsername',
    2: 'Missing SMTPPassword',
    3: 'Invalid SMTP credentials',
    4: 'Invalid sender domain',
    5: 'Sender domain is not active',
    6: 'Invalid user account',
    7: 'User is not trusted or not enabled',
    8: 'Recipient email address is suppressed',
    9: 'Too many TO recipients',
    10: 'Too many CC recipients',
    11: 'Too many BCC recipients',
    12: 'Send rate limit reached',
    13: 'Delivery credit limit reached',
    14: 'Message content refused (malformed header lines, a line over 998 octets, a header over 256 KiB)',
    15: 'Invalid recipient address (RcptTo holds no address, or one that is not an address)',
    16: 'A relay call with this UUID is still being processed (temporary: the same call answers once it is done)',
  },
  async run(p, ctx) {
    const username = typeof p.smtpusername === 'string' ? p.smtpusername.trim() : '';
    const password = typeof p.smtppassword === 'string' ? p.smtppassword : '';
    if (!username) fail(1);
    if (!password) fail(2);
    const who = await checkSmtpCredentials(ctx.store, username, password);
    if (!who) fail(3);
    // The auth-only call checks the account and domain too (upstream's auth path does): a front then refuses AUTH
    // for a disabled account or an inactive domain, instead of taking the message and refusing it at DATA.
    if (!isEnabled(who.user) || !yesNo(who.user.verified) || who.user.reputation_level !== 'Trusted') fail(7);
    if (who.domain.status !== STATUS.enabled) fail(5);
    const echo = { SMTPUsername: username, SMTPPassword: password };
    if (p.rawemail === undefined) return echo;

    const raw = Buffer.from(String(p.rawemail), 'utf8');
    const framing = bareCrProblem(raw);
    if (framing) fail(14, `Message content refused: ${framing}`);
    // Before mailparser reads the header (To, Cc and Bcc through addressparser), as acceptRaw checks before its own parsing.
    const big = headerSizeProblem(raw);
    if (big) headerTooLarge(big);
    // Loaded here, not at the top: only a relayed message needs the parser (about 60 files; src/lazy.ts says why that counts).
    const { simpleParser } = await import('mailparser');
    const head = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    const count = (v: unknown) => (Array.isArray(v) ? v : v ? [v] : []).flatMap((a: { value: unknown[] }) => a.value).length;
    const cap = ctx.config.smtpMaxRecipients;
    if (count(head.cc) > cap) fail(10);
    if (count(head.bcc) > cap) fail(11);
    const rcptTo = (
      typeof p.rcptto === 'string' && p.rcptto.trim()
        ? p.rcptto.split(',')
        : [head.to, head.cc, head.bcc].flatMap((a) => (Array.isArray(a) ? a : a ? [a] : [])).flatMap((a) => a.value.map((x) => x.address ?? ''))
    )
      .map((r) => r.trim().replace(/^<|>$/g, ''))
      .filter(Boolean);
    if (rcptTo.length > cap) fail(9);
    if (!rcptTo.length) fail(15, 'No recipient: RcptTo is empty and the message names none', '554 5.5.1 No valid recipients');
    const bad = rcptTo.find((r) => !isEmail(r));
    if (bad !== undefined) fail(15, `Invalid recipient address: ${JSON.stringify(bad.slice(0, 320))}`);
    const mailFrom = typeof p.mailfrom === 'string' && p.mailfrom.trim() ? p.mailfrom.trim().replace(/^<|>$/g, '') : (head.from?.value[0]?.address ?? '');

    const rawEmail = String(p.rawemail);
    const call = { smtpId: who.smtpId, uuid: typeof p.uuid === 'string' ? p.uuid : '', mailFrom: p.mailfrom, rcptTo: p.rcptto, rawEmail };
    const claim = await claimRelayUuid(ctx.db, ctx.config.idempotencyLeaseSeconds * 1000, call);
    if (claim?.kind === 'busy') fail(16);
    // The stored answer is the first call's, without the credentials it echoes (they are never kept at rest).
    if (claim?.kind === 'replay') return { ...(claim.reply.body as Record<string, unknown>), ...echo };
    // The same UUID with another message: taken as a new message without a key, as upstream takes every call.
    const lease = claim?.kind === 'fresh' ? claim.lease : null;
    const reply = lease
      ? (messageId: string): CommitStatement =>
          (q) =>
            lease.commitStatement(q, { status: 200, body: queued(messageId) })
      : undefined;
    let r: Awaited<ReturnType<typeof acceptRaw>>;
    try {
      r = await acceptRaw(ctx, { user: who.user, domain: who.domain, apiKeyId: null, source: 'smtp' }, { mailFrom, rcptTo, raw, reply });
    } catch (err) {
      // Nothing committed under the key: free it so the front's retry runs the call again (the lease expires anyway).
      lease?.release().catch(() => undefined);
      if (err instanceof IdempotencySuperseded) fail(16);
      throw err;
    }
    if (!r.ok) {
      // Nothing was queued: a retry of this call is judged afresh (the quota or the account may have changed).
      await lease?.release();
      if (r.reason === 'header') headerTooLarge(r.message);
      const code = { user: 7, domain: 5, sender: 4, from: 4, content: 14, header: 14, suppressed: 8, quota: 12, empty: 15 }[r.reason];
      fail(code, r.message, r.reason === 'empty' ? '554 5.5.1 No valid recipients' : RESPONSES[code]);
    }
    return { ...queued(r.messageId), ...echo };
  },
});

/** A queued message's answer, as stored for its UUID (see claimRelayUuid). */
function queued(messageId: string) {
  return { SMTPResponse: `250 2.0.0 Ok: queued as ${messageId}`, MessageID: messageId };
}
