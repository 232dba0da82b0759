import type { SendRequest } from './send-request';
import type { SendRefs } from './prepare';
import { contentBytesOf } from './stored-content';

/** Code of a batch refused whole for the template content its messages would store (SEND_ERRORS 48). */
export const BATCH_TEMPLATE_BYTES_CODE = 48;

/**
 * Stored bytes a message takes from its template (storedSizeOf's rule), not counting what the request carried itself:
 * the request's own bytes are bounded by MAX_REQUEST_BYTES, a template's are repeated in each message that names it.
 */
export function templateBytesOf(req: SendRequest, refs: SendRefs): number {
  const t = refs.template;
  if (!t) return 0;
  return contentBytesOf({
    subject: req.subject ? '' : t.subject,
    html: req.html === undefined ? t.html || undefined : undefined,
    text: req.text === undefined ? t.text || undefined : undefined,
    attachments: [],
  });
}

/**
 * Why a batch is refused whole, or null: its messages would store more than `limit` (LIST_PAGE_BYTES, a list send's
 * page) bytes of template content. Asked before any message is prepared, so nothing is copied per message first.
 */
export function batchTemplateProblem(items: { req: SendRequest; refs: SendRefs }[], limit: number): string | null {
  let total = 0;
  let templated = 0;
  for (const { req, refs } of items) {
    const n = templateBytesOf(req, refs);
    total += n;
    if (n) templated++;
  }
  if (total <= limit) return null;
  const fit = Math.max(1, Math.floor(limit / (total / templated)));
  return (
    `The batch's ${templated} messages with a TemplateID count as ${total} bytes of template content (its text twice, as stored); ` +
    `a batch may hold at most ${limit} (LIST_PAGE_BYTES): send about ${fit} such messages per batch, or fewer with larger templates`
  );
}
