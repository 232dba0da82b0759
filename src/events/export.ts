import { pipeline, Readable } from 'node:stream';
import type { stringify as Stringify } from 'csv-stringify';
import type { Db } from '../db';
import type { Logger } from '../logger';
import { Cursor, EventFilter, EventRow, EventScope, eventsAfter } from './query';
import { lazy } from '../lazy';

// Read at the first export only (src/lazy.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const csv = lazy(() => require('csv-stringify') as { stringify: typeof Stringify });

/** exportevents: at most this many rows per file, read this many at a time. */
export const EXPORT_LIMIT = 10_000;
export const EXPORT_PAGE = 1_000;

export const EXPORT_COLUMNS = ['Time', 'Event', 'MessageID', 'From', 'To', 'Subject', 'Domain', 'SMTPCode'] as const;

/** A spreadsheet would run a cell starting with = + - @ TAB or CR as a formula: such cells get a leading `'`. */
export function defuse(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** The three-digit code at the start of an SMTP reply ("550 5.1.1 …" → "550"), or ''. */
export function smtpCode(reply: unknown): string {
  return typeof reply === 'string' ? (/^\s*([2-5]\d\d)\b/.exec(reply)?.[1] ?? '') : '';
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function csvRow(r: EventRow): string[] {
  const cells = [
    isoSeconds(r.created_at),
    r.type,
    r.message_id,
    r.from_email ?? '',
    typeof r.data.recipient === 'string' ? r.data.recipient : '',
    r.subject ?? '',
    r.sender_domain ?? '',
    smtpCode(r.data.smtp_reply),
  ];
  return cells.map(defuse);
}

/**
 * The CSV body: UTF-8 BOM, the header line, then up to EXPORT_LIMIT events newest first, read EXPORT_PAGE at a
 * time by keyset (created_at, id) so no page costs more than the one before it.
 */
export function exportCsv(db: Db, scope: EventScope, f: EventFilter, logger: Logger): Readable {
  async function* rows(): AsyncGenerator<string[]> {
    let after: Cursor | null = null;
    let sent = 0;
    while (sent < EXPORT_LIMIT) {
      const page = await eventsAfter(db, scope, f, after, Math.min(EXPORT_PAGE, EXPORT_LIMIT - sent));
      for (const r of page) yield csvRow(r);
      sent += page.length;
      if (page.length < EXPORT_PAGE) return;
      const last = page[page.length - 1];
      after = { created_at: last.created_at, id: last.id };
    }
  }
  return pipeline(Readable.from(rows()), csv().stringify({ bom: true, header: true, columns: [...EXPORT_COLUMNS] }), (err) => {
    if (err && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') logger.error('event export failed', { error: err.stack ?? String(err) });
  });
}
