/**
 * Header fields a sender cannot speak for: receiving servers' verdicts (a sender's own copy would go out under our
 * DKIM signature, forged) and Postern's own delivery marker. The send API refuses them (src/mail/send-request.ts); the
 * SMTP front drops them from a client's message (src/mail/accept-raw.ts).
 */
export const NOT_THE_SENDERS = [
  'authentication-results',
  'arc-seal',
  'arc-message-signature',
  'arc-authentication-results',
  // The SPF verdict (RFC 7208 §9.1) and the copy of an earlier hop's verdict some receivers keep.
  'received-spf',
  'x-original-authentication-results',
  'x-postern-delivery',
];
