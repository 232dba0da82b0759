/**
 * What an SMTP reply (or a DSN's status and diagnostic) means for a delivery. The RFC 3463 enhanced status
 * code decides first; the text refines it only where a code is shared by different causes (5.7.x spam or
 * block, 5.2.1 disabled or rate, Microsoft's 5.4.1 edge block) or is missing or generic (X.0.0). Only an
 * address-level failure (`hard`) suppresses; a permanent reply nobody recognises is `undetermined`: bounced,
 * never suppressed. The table is documented, row by row, in docs/bounces.md.
 */
export type BounceClass = 'hard' | 'soft' | 'block' | 'spam' | 'mailbox_full' | 'message' | 'rate' | 'connection' | 'undetermined';

export interface Classified {
  class: BounceClass;
  /** Ends the delivery (bounced) instead of retrying it. */
  permanent: boolean;
  /** Puts the recipient on the domain's suppression list: a permanent address-level failure only. */
  suppress: boolean;
}

const RATE = /rate limit|rate that prevents|too many (messages|connections|recipients)|too (quickly|fast)|unexpected volume|throttl|slow down/i;
const SPAM = /\bspam\b|junk|unsolicited|content (rejected|filter)|\bUBE\b/i;
const BLOCK =
  /block ?list|black ?list|spamhaus|barracuda|\brbl\b|dnsbl|blocked|reputation|denied|policy|not accepted from|not authori[sz]ed|complaints|(client host|sender address) rejected/i;
const FULL = /mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage|exceeded storage/i;
/** Wording that names the recipient's address as unknown or gone: used only where the code does not decide. */
const UNKNOWN_ADDRESS =
  /user unknown|unknown (user|recipient|mailbox)|no such (user|mailbox|recipient|address)|(user|mailbox|recipient|address|account) (does not|doesn'?t) exist|(recipient|mailbox|user) not found|recipientnotfound|invalid (recipient|mailbox)|doesn'?t have an? \S+ account|(account|mailbox) (is |has been )?disabled/i;
const MESSAGE =
  /line too long|message (size|too (big|large|long))|size exceeds|exceeds (the )?(fixed |maximum )?(message )?size|too many hops|header (is )?too (long|large)|malformed|not rfc ?5322/i;
const HOST_NOT_FOUND = /host (or domain name )?not found|domain (not found|does not exist)|no mx|null mx|name service error/i;

export interface Rule {
  /** `subject.detail` of the enhanced code (the class digit is the basic code's business); omitted: any or none. */
  code?: RegExp;
  /** A further condition on the reply text. */
  text?: RegExp;
  class: BounceClass;
  /** The class when the reply is temporary (4xx); by default the class itself if it can be temporary, else `soft`. */
  temporary?: BounceClass;
}

/** Read top to bottom; the first row whose code and text both match wins. */
export const RULES: readonly Rule[] = [
  // X.1.x addressing. 1.7 and 1.8 name the sender's address: a refusal of the sender, not of the mailbox.
  { code: /^1\.[78]$/, class: 'block' },
  { code: /^1\.0$/, text: /sender/i, class: 'block' }, // Postfix reject_unlisted_sender: "550 5.1.0 <…>: Sender address rejected"
  { code: /^1\.(0|1|2|3|4|6|10)$/, class: 'hard' },
  // X.2.x mailbox status.
  { code: /^2\.2$/, class: 'mailbox_full' },
  { code: /^2\.1$/, text: RATE, class: 'rate' }, // Gmail: "receiving mail at a rate that prevents additional messages"
  { code: /^2\.1$/, class: 'hard' }, // the mailbox exists but is disabled
  { code: /^2\.3$/, class: 'message' }, // message longer than the mailbox's limit
  // X.3.x mail system and X.6.x content: this message, not this address.
  { code: /^3\./, class: 'message' },
  { code: /^6\./, class: 'message' },
  // X.4.x network and routing: never the address, except a destination domain that does not exist and
  // Exchange Online's directory-based edge blocking (550 5.4.1 "Recipient address rejected: Access denied").
  { code: /^4\.[14]$/, text: /recipient address rejected|recipientnotfound/i, class: 'hard' },
  { code: /^4\.4$/, text: HOST_NOT_FOUND, class: 'hard' },
  { code: /^4\./, class: 'undetermined' },
  // X.5.x protocol: 5.3 is "too many recipients", a pace problem; the rest is a conversation gone wrong.
  { code: /^5\.3$/, class: 'rate' },
  { code: /^5\./, class: 'undetermined' },
  // X.7.x security and policy: the sender, the content or the pace, never the mailbox.
  { code: /^7\.28$/, class: 'rate' },
  { code: /^7\./, text: RATE, class: 'rate' },
  { code: /^7\./, text: SPAM, class: 'spam' },
  { code: /^7\./, text: BLOCK, class: 'block' },
  { code: /^7\./, class: 'block', temporary: 'soft' }, // Gmail "421 4.7.0 Try again later" names no block
  // No enhanced code, X.0.0, another X.1.x or X.2.x (5.2.0 "other mailbox status") or an unregistered
  // subject: the text decides, and only wording that is unambiguous about the mailbox makes it hard.
  { text: FULL, class: 'mailbox_full' },
  { text: RATE, class: 'rate' },
  { text: SPAM, class: 'spam' },
  { text: UNKNOWN_ADDRESS, class: 'hard' },
  { text: MESSAGE, class: 'message' },
  { text: BLOCK, class: 'block' },
];

/** Classes that a temporary (4xx) reply keeps; any other becomes `soft`. */
const TEMPORARY_CLASSES: ReadonlySet<BounceClass> = new Set(['mailbox_full', 'rate', 'spam', 'block']);
/** Classes that are retried even after a 5xx reply: the mailbox may empty, the pace may drop. */
const ALWAYS_RETRIED: ReadonlySet<BounceClass> = new Set(['mailbox_full', 'rate']);

/** The enhanced status code at the start of a reply ("550 5.1.1 …", "550-5.1.1 …", "5.1.1 …", "#5.1.0"). */
export function enhancedCode(text: string): string | null {
  const m = /^\s*(?:\d{3}[ -])?#?([245]\.\d{1,3}\.\d{1,3})\b/.exec(text);
  return m ? m[1] : null;
}

/** The first row of RULES that decides this reply; undefined when none does. */
export function decidingRule(text: string, enhanced?: string): Rule | undefined {
  const status = enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) ? enhanced : enhancedCode(text);
  // X.0.0 says nothing: treated as no code at all.
  const subject = status ? status.slice(2) : '';
  const specific = subject && subject !== '0.0' ? subject : '';
  return RULES.find((r) => (r.code ? !!specific && r.code.test(specific) : true) && (!r.text || r.text.test(text)));
}

/**
 * `code` is the basic reply code (absent or 0: no reply at all, a connection problem); `text` the reply as the
 * server sent it; `enhanced` an enhanced code known from elsewhere (a DSN's Status field), else read from `text`.
 */
export function classifyReply(code: number | undefined, text: string, enhanced?: string): Classified {
  if (!code) return { class: 'connection', permanent: false, suppress: false };
  const rule = decidingRule(text, enhanced);
  const cls: BounceClass = rule?.class ?? 'undetermined';
  if (code < 500) {
    const temporary = rule?.temporary ?? (TEMPORARY_CLASSES.has(cls) ? cls : 'soft');
    return { class: temporary, permanent: false, suppress: false };
  }
  const permanent = !ALWAYS_RETRIED.has(cls);
  return { class: cls, permanent, suppress: permanent && cls === 'hard' };
}

/** A server's own "try again in N seconds/minutes" hint, in seconds. */
export function retryHintSeconds(text: string): number | null {
  const m = /(?:try again|retry)(?: later)?(?: in| after)?\s+(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes)\b/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return /^m/i.test(m[2]) ? n * 60 : n;
}
