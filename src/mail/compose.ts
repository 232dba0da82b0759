import crypto from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';

export interface Address {
  name: string;
  email: string;
}

export interface Attachment {
  filename: string;
  content: Buffer;
  contentType?: string;
  disposition: 'attachment' | 'inline';
  contentId?: string;
}

export interface ComposeInput {
  from: Address;
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  subject: string;
  html?: string;
  text?: string;
  headers: Record<string, string>;
  attachments: Attachment[];
  messageIdHeader: string;
  date: Date;
}

/** `<uuid@domain>`: the Message-ID header lives on the sender's domain. */
export function newMessageIdHeader(domain: string): string {
  return `<${crypto.randomUUID()}@${domain}>`;
}

const addr = (a: Address) => ({ name: a.name, address: a.email });

/**
 * Builds the message's MIME once, with nodemailer's composer. Bcc never appears in headers.
 * File and URL access are off: content only ever comes from the request, never from paths or links.
 */
export async function composeMime(m: ComposeInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: addr(m.from),
    to: m.to.map(addr),
    cc: m.cc.length ? m.cc.map(addr) : undefined,
    replyTo: m.replyTo.length ? m.replyTo.map(addr) : undefined,
    subject: m.subject,
    html: m.html,
    text: m.text,
    headers: m.headers,
    messageId: m.messageIdHeader,
    date: m.date,
    disableFileAccess: true,
    disableUrlAccess: true,
    attachments: m.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      contentDisposition: a.disposition,
      cid: a.contentId,
    })),
  });
  return composer.compile().build();
}
