import crypto from 'node:crypto';

/**
 * `<uuid@domain>`: the Message-ID header lives on the sender's domain. Apart from compose.ts so that accepting a
 * message does not load nodemailer's composer, which only the worker needs (src/lazy.ts says why that matters).
 */
export function newMessageIdHeader(domain: string): string {
  return `<${crypto.randomUUID()}@${domain}>`;
}
