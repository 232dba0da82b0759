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

export const addr = (a: Address) => ({ name: a.name, address: a.email });

/** MailComposer's options for a message: the one place both composers (this and MessageMime) build them. */
export function composerOptions(m: ComposeInput, opts: { baseBoundary?: string } = {}): ConstructorParameters<typeof MailComposer>[0] {
  return {
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
    baseBoundary: opts.baseBoundary,
    disableFileAccess: true,
    disableUrlAccess: true,
    attachments: m.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      contentDisposition: a.disposition,
      cid: a.contentId,
    })),
  };
}

/**
 * Builds the message's MIME with nodemailer's composer (streams per part; src/mail/message-mime.ts gives the same
 * bytes synchronously for the many copies of one message). Bcc never appears in headers. File and URL access are
 * off: content only ever comes from the request, never from paths or links. `baseBoundary` (random by default)
 * fixes the multipart boundaries, for comparisons.
 */
export async function composeMime(m: ComposeInput, opts: { baseBoundary?: string } = {}): Promise<Buffer> {
  return new MailComposer(composerOptions(m, opts)).compile().build();
}
