import { Resolver } from 'node:dns/promises';
import type { DKIMResult, DNSResolver } from 'mailauth';
import addressparser from 'nodemailer/lib/addressparser';
import type { Config } from '../config';
import { lazy } from '../lazy';
import type { InboundMail } from './mail';
import { hasSigners, listedSigner, reportersSignedBy, signingDomain, trustedAddress, trustedDomain, TrustedSources } from './trusted-sources';

// Read at its first use, and only with COMPLAINT_TRUSTED_SOURCES set (src/lazy.ts); the intake asks for it at its start
// then (dkimVerifier below), so a broken install fails at boot rather than at the first complaint.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const mailauth = lazy(() => require('mailauth') as typeof import('mailauth'));

/** mailauth's public `dkimVerify`, loaded on the first call. */
export function dkimVerifier(): (typeof import('mailauth'))['dkimVerify'] {
  const verify = mailauth().dkimVerify;
  if (typeof verify !== 'function') throw new Error('mailauth does not export dkimVerify');
  return verify;
}

/** A TXT lookup as mailauth asks it: `(name, 'TXT')` → the record's strings. Injected by tests. */
export type DkimResolver = DNSResolver;

/** DKIM key lookups through DNS_SERVERS (else the system's resolvers), as the other lookups of Postern. */
export function dkimResolver(config: Pick<Config, 'dnsServers' | 'dnsTimeoutMs'>): DkimResolver {
  return async (name, type) => {
    const r = new Resolver({ timeout: config.dnsTimeoutMs, tries: 2 });
    if (config.dnsServers.length) r.setServers(config.dnsServers);
    if (type !== 'TXT') throw Object.assign(new Error(`no ${type} lookups for DKIM`), { code: 'ENOTFOUND' });
    return r.resolveTxt(name);
  };
}

/**
 * The largest report whose signatures are checked: every body hash reads the whole message in JavaScript (some 90 ms
 * a MiB), and the intake takes 10 MiB from anyone. Not less: mailauth hashes the whole body (only a signature's own
 * l= covers less, and that is refused), and a real report may quote the whole original (RFC 5965 message/rfc822),
 * attachments and all: most are a few KiB, one about a message with a PDF attached hundreds. A replay of a complaint
 * already recorded is answered before any hash (processInbound).
 */
export const MAX_VERIFIED_BYTES = 2 * 1024 * 1024;
/** DKIM-Signatures of listed domains handed to mailauth (each may need its own body hash and key lookup). */
export const MAX_VERIFIED_SIGNATURES = 2;

/**
 * Top-level fields a report may carry once only. DKIM signs the last instance of a field, the report parser and the
 * address check read the first: a copy added above a signed one would be read in its place (another boundary, and
 * the parser sees other parts; another From).
 */
const SINGLE_FIELDS = ['Content-Type', 'From', 'Subject', 'Message-ID'];

/** One field of the header block: its name (lowercase, as mailauth reads it) and its bytes (latin1), fold and line end kept. */
interface Field {
  key: string;
  text: string;
}

/** The header block of `raw` (up to and with the empty line, as mailauth splits it) and where the body starts. */
function headerBlock(raw: Buffer): { head: string; bodyAt: number } {
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) {
    if (raw[i + 1] === 0x0a) return { head: raw.subarray(0, i + 2).toString('latin1'), bodyAt: i + 2 };
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return { head: raw.subarray(0, i + 3).toString('latin1'), bodyAt: i + 3 };
  }
  return { head: raw.toString('latin1'), bodyAt: raw.length };
}

function fields(head: string): Field[] {
  const out: Field[] = [];
  for (const line of head.split(/(?<=\n)/)) {
    if (/^[ \t]/.test(line) && out.length) out[out.length - 1].text += line;
    else out.push({ key: (/^[^:]+/.exec(line)?.[0] ?? '').trim().toLowerCase(), text: line });
  }
  return out;
}

const value = (f: Field) => f.text.slice(f.text.indexOf(':') + 1).replace(/\r?\n/g, '');

/**
 * Whether a DKIM-Signature has an l= tag: it covers only the start of the body, so it is never trusted, and it is not
 * handed to mailauth, whose verifier prints a debug line to stdout for each whose l= exceeds the body (anyone could
 * fill the logs so).
 */
const hasBodyLength = (f: Field) => /(?:^|;)\s*l\s*=/i.test(value(f));

/** A DKIM-Signature's d= as written (the first d= tag), compared as signingDomain does; '' without one. */
const signatureDomain = (f: Field) => signingDomain((/(?:^|;)\s*d\s*=([^;]*)/i.exec(value(f))?.[1] ?? '').replace(/\s+/g, ''));

/**
 * A SINGLE_FIELDS name that occurs more than once at the top. Counted on every line break any reader may see
 * (a bare CR too) and with space before the colon, so no parser finds a copy this count missed.
 */
function repeatedField(head: string): string | undefined {
  const counts = new Map<string, number>();
  for (const line of head.split(/\r\n|\r|\n/)) {
    const m = /^(content-type|from|subject|message-id)[ \t]*:/i.exec(line);
    if (m) counts.set(m[1].toLowerCase(), (counts.get(m[1].toLowerCase()) ?? 0) + 1);
  }
  return SINGLE_FIELDS.find((name) => (counts.get(name.toLowerCase()) ?? 0) > 1);
}

/** The one address of the report's one From field (local part lowercase, domain ASCII), else null. */
function fromAddress(all: Field[]): string | null {
  const from = all.filter((f) => f.key === 'from');
  if (from.length !== 1) return null;
  const flat = (list: ReturnType<typeof addressparser>): string[] =>
    list.flatMap((a) => ('group' in a && Array.isArray(a.group) ? flat(a.group) : a.address ? [a.address] : []));
  const addresses = flat(addressparser(value(from[0]).trim()));
  if (addresses.length !== 1) return null;
  const at = addresses[0].lastIndexOf('@');
  return at <= 0 ? null : `${addresses[0].slice(0, at).toLowerCase()}@${signingDomain(addresses[0].slice(at + 1))}`;
}

export type Verdict = { trusted: true; by: string } | { trusted: false; why: string; retry?: boolean };

type Checked = DKIMResult & { canonBodyLengthLimited?: boolean; signingHeaders?: { keys?: string } };

/**
 * Whether a complaint comes from a trusted feedback loop (COMPLAINT_TRUSTED_SOURCES). Every recipient of a message
 * knows its VERP address and can write a complaint about it, so the address proves nothing about the reporter. What
 * does: a DKIM signature that verifies for a listed source, since only its domain holds the key; its body hash
 * covers the report part and the quoted message, so a real report cannot be edited to name another delivery.
 * - A bare domain counts with d= exactly that domain (`.domain`: or one under it). It must sign nothing but reports:
 *   a mailbox provider signs every user's mail with its domain, and a user can send a hand-made report through it.
 * - A reporter address counts with a signature of its domain or a parent up to its organizational domain (never a
 *   public suffix), the report's one From being that address, signed: a provider lets its users send only from their
 *   own addresses.
 * - Either way the signature must cover Content-Type (what the report is parsed by) and not carry `l=` (it would
 *   cover only the start of the body), and Content-Type, From, Subject and Message-ID must occur once (DKIM signs
 *   the last copy of a field, the parser reads the first).
 * The work is bounded, as anyone may send here: nothing is verified without a DKIM-Signature of a listed domain, or
 * on a message over MAX_VERIFIED_BYTES; mailauth reads a copy with only the first MAX_VERIFIED_SIGNATURES of them
 * (no other DKIM-Signature, no ARC set), and keys are looked up only under listed domains. A listed address is the
 * TCP peer: for an unsigned loop relayed by a host the operator runs. A key lookup that fails for now (timeout,
 * SERVFAIL) asks for a retry rather than dropping a real complaint.
 */
export async function complaintVerdict(sources: TrustedSources, mail: InboundMail, resolver: DkimResolver): Promise<Verdict> {
  if (mail.remoteAddress && trustedAddress(sources, mail.remoteAddress)) return { trusted: true, by: `trusted address ${mail.remoteAddress}` };
  if (!hasSigners(sources)) return { trusted: false, why: `${mail.remoteAddress || 'the sender'} is not a trusted address` };
  const peer = sources.ips.length ? `; ${mail.remoteAddress || 'the sender'} is not a trusted address` : '';
  const untrusted = (why: string, retry = false): Verdict => ({ trusted: false, why: `${why}${peer}`.slice(0, 500), retry });

  const size = mail.size ?? mail.raw.length;
  if (size > MAX_VERIFIED_BYTES) {
    return untrusted(`too large to verify (${size} bytes; DKIM is checked on reports of at most ${MAX_VERIFIED_BYTES} bytes)`);
  }
  const { head, bodyAt } = headerBlock(mail.raw);
  const repeated = repeatedField(head);
  if (repeated) return untrusted(`more than one ${repeated} header (DKIM signs the last, the report is read by the first)`);
  const all = fields(head);
  const signatures = all.filter((f) => f.key === 'dkim-signature');
  if (!signatures.length) return untrusted('no DKIM signature');
  const ofListed = signatures.filter((f) => listedSigner(sources, signatureDomain(f)));
  const listed = ofListed.filter((f) => !hasBodyLength(f)).slice(0, MAX_VERIFIED_SIGNATURES);
  const said = [...new Set(ofListed.filter(hasBodyLength).map((f) => `d=${signatureDomain(f)} with l= (it covers only the start of the body; not verified)`))];
  if (!listed.length && said.length) return untrusted(`no DKIM signature of a trusted source verified: ${said.join(', ')}`);
  if (!listed.length) {
    const names = [...new Set(signatures.map((f) => `d=${signatureDomain(f) || '(none)'}`))].slice(0, 5).join(', ');
    return untrusted(`no DKIM signature of a trusted source: ${names} (not verified)`);
  }
  const copy = Buffer.concat([
    Buffer.from(
      all
        .filter((f) => (f.key === 'dkim-signature' ? listed.includes(f) : f.key !== 'arc-message-signature' && f.key !== 'arc-seal'))
        .map((f) => f.text)
        .join(''),
      'latin1',
    ),
    mail.raw.subarray(bodyAt),
  ]);

  let lookups = 0;
  const guarded: DkimResolver = (name, type) => {
    const domain = name.slice(name.indexOf('._domainkey.') + '._domainkey.'.length);
    if (!name.includes('._domainkey.') || !listedSigner(sources, domain) || ++lookups > MAX_VERIFIED_SIGNATURES) {
      return Promise.reject(Object.assign(new Error('not looked up'), { code: 'ENOTFOUND' }));
    }
    return resolver(name, type);
  };
  const { results } = await dkimVerifier()(copy, { resolver: guarded });
  const checked = (results as Checked[]).filter((r) => r.signingDomain);
  const from = fromAddress(all);
  for (const r of checked) {
    const d = signingDomain(r.signingDomain);
    const result = `d=${r.signingDomain} ${r.status.result}`;
    if (r.status.result !== 'pass') {
      said.push(`${result}${r.status.comment ? ` (${r.status.comment})` : ''}`);
      continue;
    }
    const covered = new Set((r.signingHeaders?.keys ?? '').split(':').map((k) => k.trim().toLowerCase()));
    if (r.canonBodyLengthLimited) said.push(`${result} (with l=, it covers only the start of the body)`);
    else if (!covered.has('content-type')) said.push(`${result} (Content-Type not signed)`);
    else if (trustedDomain(sources, d)) return { trusted: true, by: `DKIM signature of ${r.signingDomain}` };
    else {
      const reporters = reportersSignedBy(sources, d);
      if (!from) said.push(`${result} (From is not one address)`);
      else if (!reporters.includes(from)) said.push(`${result} (From ${from} is not a listed reporter of this domain)`);
      else if (!covered.has('from')) said.push(`${result} (From not signed)`);
      else return { trusted: true, by: `DKIM signature of ${r.signingDomain} for ${from}` };
    }
  }
  const retry = checked.some((r) => listedSigner(sources, r.signingDomain) && r.status.result === 'temperror');
  return untrusted(said.length ? `no DKIM signature of a trusted source verified: ${said.join(', ')}` : 'no DKIM signature', retry);
}
