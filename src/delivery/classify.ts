/**
 * What an SMTP reply means for a delivery, decided by one table read top to bottom: the first rule whose
 * pattern matches "<code> <enhanced code> <text>" wins. `permanent` ends the delivery (bounced);
 * otherwise it is retried. Only `hard` permanent failures put the address on the suppression list.
 */
export type BounceClass = 'hard' | 'soft' | 'block' | 'spam' | 'mailbox_full' | 'rate' | 'connection';

interface Rule {
  pattern: RegExp;
  class: BounceClass;
  /** true / false, or 'by-code': permanent when the basic code is 5xx. */
  permanent: boolean | 'by-code';
}

const RULES: Rule[] = [
  { pattern: /\b[45]\.2\.2\b|mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage/i, class: 'mailbox_full', permanent: false },
  { pattern: /\b4\.7\.(0|28)\b.*(rate|too many)|rate limit|too many (messages|connections|recipients)|throttl|slow down/i, class: 'rate', permanent: false },
  { pattern: /\bspam\b|junk|content (rejected|filter)|message (looks|considered) (like )?unsolicited|\b5\.7\.(350|510)\b/i, class: 'spam', permanent: 'by-code' },
  { pattern: /\b5\.1\.[0-3]\b|\b5\.1\.6\b|user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|recipient (address )?rejected|mailbox unavailable|invalid recipient|address rejected/i, class: 'hard', permanent: 'by-code' },
  { pattern: /\b5\.4\.[0-7]\b|host not found|no mx|domain (not found|does not exist)/i, class: 'hard', permanent: 'by-code' },
  { pattern: /block ?list|black ?list|spamhaus|\brbl\b|dnsbl|reputation|blocked|access denied|policy reasons|not accepted from this ip/i, class: 'block', permanent: 'by-code' },
  // Any other 5.7.x is a security or policy refusal of the sender, never a verdict on the mailbox.
  { pattern: /\b5\.7\.\d{1,3}\b/, class: 'block', permanent: 'by-code' },
  { pattern: /^5/, class: 'hard', permanent: true },
  { pattern: /^4/, class: 'soft', permanent: false },
];

export interface Classified {
  class: BounceClass;
  permanent: boolean;
}

export function classifyReply(code: number | undefined, text: string): Classified {
  if (!code) return { class: 'connection', permanent: false };
  const line = `${code} ${text}`;
  for (const r of RULES) {
    if (!r.pattern.test(line)) continue;
    const permanent = r.permanent === 'by-code' ? code >= 500 : r.permanent;
    // A temporary reply is never a hard bounce, whatever its text says (e.g. greylisting "address rejected").
    return { class: r.class === 'hard' && code < 500 ? 'soft' : r.class, permanent };
  }
  return { class: code >= 500 ? 'hard' : 'soft', permanent: code >= 500 };
}

/** A server's own "try again in N seconds/minutes" hint, in seconds. */
export function retryHintSeconds(text: string): number | null {
  const m = /(?:try again|retry)(?: later)?(?: in| after)?\s+(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes)\b/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return /^m/i.test(m[2]) ? n * 60 : n;
}
