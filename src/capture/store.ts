import type PostalMimeModule from 'postal-mime';
import { lazy } from '../lazy';

// Read at its first use: most processes (and test files) never parse a stored message (src/lazy.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const postalMime = lazy(() => (require('postal-mime') as { default: typeof PostalMimeModule }).default);
import type { Config } from '../config';
import type { Db } from '../db';
import type { Logger } from '../logger';
import type { SendOutcome } from '../delivery/outcome';

/** Which delivery a captured copy belongs to. */
export interface CaptureMeta {
  deliveryId: number;
  messageId: string;
  userId: number;
  domainId: number;
}

const CRLF = Buffer.from('\r\n');

/** A header block's From and Subject, decoded (the body is not parsed: only the header block is handed over). */
async function summary(raw: Buffer): Promise<{ from: string; subject: string }> {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.subarray(0, end + 4);
  try {
    const mail = await postalMime().parse(head);
    const from = mail.from ? (mail.from.name ? `${mail.from.name} <${mail.from.address ?? ''}>` : (mail.from.address ?? '')) : '';
    return { from: from.slice(0, 320), subject: (mail.subject ?? '').slice(0, 998) };
  } catch {
    return { from: '', subject: '' };
  }
}

/**
 * DELIVERY_MODE=capture: keeps the bytes a delivery would have sent (signed, with its VERP envelope) instead of
 * sending them, and prunes the table by count and age at most once a second.
 */
export class CaptureStore {
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    private readonly config: Pick<Config, 'captureMaxMessages' | 'captureMaxAgeSeconds'>,
    private readonly logger: Logger,
  ) {}

  async store(meta: CaptureMeta, envelope: { from: string; to: string }, message: Buffer): Promise<SendOutcome> {
    // SMTP ends every message with CRLF before the final dot: keep what a receiving server would have seen.
    const raw = message.subarray(-2).equals(CRLF) ? message : Buffer.concat([message, CRLF]);
    const { from, subject } = await summary(raw);
    try {
      const [id] = await this.db('captured_messages').insert({
        user_id: meta.userId,
        domain_id: meta.domainId,
        message_id: meta.messageId,
        delivery_id: meta.deliveryId,
        mail_from: envelope.from.slice(0, 320),
        rcpt_to: envelope.to.slice(0, 320),
        from_header: from,
        subject,
        size: raw.length,
        raw,
        created_at: Date.now(),
      });
      this.maybePrune();
      return { ok: true, response: `250 2.0.0 Ok: captured as ${Number(id)} (DELIVERY_MODE=capture: kept, not sent)` };
    } catch (err) {
      // The database refused it: a temporary failure, retried on the usual schedule.
      return { ok: false, response: `451 4.3.0 capture failed: ${(err as Error).message}`.slice(0, 1000) };
    }
  }

  private maybePrune(): void {
    if (Date.now() - this.lastPrune < 1000) return;
    this.lastPrune = Date.now();
    this.prune().catch((err) => this.logger.warn('captured messages prune failed', { error: (err as Error).message }));
  }

  /** Deletes captured messages older than CAPTURE_MAX_AGE_SECONDS and all but the newest CAPTURE_MAX_MESSAGES. */
  async prune(now = Date.now()): Promise<number> {
    let n = Number(
      await this.db('captured_messages')
        .where('created_at', '<', now - this.config.captureMaxAgeSeconds * 1000)
        .delete(),
    );
    const edge = await this.db('captured_messages').orderBy('id', 'desc').offset(this.config.captureMaxMessages).first('id');
    if (edge) n += Number(await this.db('captured_messages').where('id', '<=', edge.id).delete());
    return n;
  }
}
