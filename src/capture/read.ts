import type PostalMimeModule from 'postal-mime';
import { lazy } from '../lazy';

// Read at its first use: most processes (and test files) never parse a stored message (src/lazy.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const postalMime = lazy(() => (require('postal-mime') as { default: typeof PostalMimeModule }).default);
import type { CommandContext, Params } from '../command';
import { formatTime } from '../auth/users';
import { CommandError } from '../errors';

/** Whose captured messages a command may read: a user's (legacy door) or one sender key's domain (v1 door). */
export type CaptureScope = { userId: number; domainId?: number } | { domainId: number };

interface CapturedRow {
  id: number;
  domain_id: number;
  message_id: string;
  delivery_id: number;
  mail_from: string;
  rcpt_to: string;
  from_header: string;
  subject: string;
  size: number;
  created_at: number;
  raw?: Buffer;
}

const LISTED = ['id', 'domain_id', 'message_id', 'delivery_id', 'mail_from', 'rcpt_to', 'from_header', 'subject', 'size', 'created_at'];

function scoped(ctx: CommandContext, scope: CaptureScope) {
  const q = ctx.db('captured_messages');
  if ('userId' in scope) q.where('user_id', scope.userId);
  if (scope.domainId !== undefined) q.where('domain_id', scope.domainId);
  // Older than the age cap counts as gone even before the next prune removes it.
  return q.where('created_at', '>=', Date.now() - ctx.config.captureMaxAgeSeconds * 1000);
}

function present(r: CapturedRow): Record<string, unknown> {
  return {
    CapturedID: Number(r.id),
    MessageID: r.message_id,
    DeliveryID: Number(r.delivery_id),
    DomainID: Number(r.domain_id),
    MailFrom: r.mail_from,
    RcptTo: r.rcpt_to,
    From: r.from_header,
    Subject: r.subject,
    Size: Number(r.size),
    CapturedAt: formatTime(r.created_at),
  };
}

/** Newest first; filters MessageID and Recipient (the envelope recipient); paging StartFrom and RetrieveCount. */
export async function listCaptured(ctx: CommandContext, scope: CaptureScope, p: Params): Promise<Record<string, unknown>> {
  const q = scoped(ctx, scope);
  // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
  if (p.messageid !== undefined) q.where('message_id', String(p.messageid).toLowerCase());
  if (p.recipient !== undefined) q.whereRaw('lower(rcpt_to) = ?', [String(p.recipient).trim().toLowerCase()]);
  const [{ n }] = await q.clone().count({ n: '*' });
  const rows: CapturedRow[] = await q.orderBy('id', 'desc').limit(Number(p.retrievecount)).offset(Number(p.startfrom)).select(LISTED);
  return { TotalRecords: Number(n), CapturedMessages: rows.map(present) };
}

function address(a: { name?: string; address?: string } | undefined): string | null {
  if (!a) return null;
  return a.name ? `${a.name} <${a.address ?? ''}>` : (a.address ?? '');
}

/** The DKIM-Signature headers' d= and s= tags (the signature itself is verified by the recipient, not here). */
function dkimTags(headers: { key: string; value: string }[]): { Domain: string; Selector: string }[] {
  return headers
    .filter((h) => h.key === 'dkim-signature')
    .map((h) => {
      const v = h.value.replace(/\s+/g, '');
      return { Domain: /(?:^|;)d=([^;]*)/.exec(v)?.[1] ?? '', Selector: /(?:^|;)s=([^;]*)/.exec(v)?.[1] ?? '' };
    });
}

/** One captured message: `Format=raw` adds RawMIME (the exact bytes as UTF-8 text), otherwise `Parsed` (postal-mime). */
export async function getCaptured(ctx: CommandContext, scope: CaptureScope, p: Params, notFound: number): Promise<Record<string, unknown>> {
  const row: CapturedRow | undefined = await scoped(ctx, scope)
    .where('id', Number(p.capturedid))
    .first([...LISTED, 'raw']);
  if (!row) throw new CommandError(notFound);
  const raw = Buffer.isBuffer(row.raw) ? row.raw : Buffer.from(row.raw ?? '');
  if (p.format === 'raw') return { CapturedMessage: present(row), RawMIME: raw.toString('utf8') };
  const mail = await postalMime().parse(raw);
  const list = (xs: { name?: string; address?: string }[] | undefined) => (xs ?? []).map(address);
  return {
    CapturedMessage: {
      ...present(row),
      Parsed: {
        From: address(mail.from),
        To: list(mail.to),
        Cc: list(mail.cc),
        ReplyTo: list(mail.replyTo),
        Subject: mail.subject ?? '',
        Date: mail.date ?? null,
        MessageIDHeader: mail.messageId ?? null,
        DKIMSignatures: dkimTags(mail.headers),
        Headers: mail.headers.map((h) => ({ Name: h.originalKey ?? h.key, Value: h.value })),
        Text: mail.text ?? '',
        HTML: mail.html ?? '',
        Attachments: mail.attachments.map((a) => ({
          Filename: a.filename,
          ContentType: a.mimeType,
          Disposition: a.disposition,
          Size: typeof a.content === 'string' ? a.content.length : a.content.byteLength,
        })),
      },
    },
  };
}
