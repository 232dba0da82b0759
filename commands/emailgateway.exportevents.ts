/**
 * emailgateway.exportevents — the caller's events as a CSV download (GET or POST /api.php): one domain
 * (DomainID) or all (absent or 0). Filters: Event (either vocabulary), MessageID (overrides Query), Query
 * (grammar in src/events/query.ts), StartDate/EndDate (strict Y-m-d in the user's time zone; invalid or absent
 * → EndDate − 30 days / today; EndDate clamped ≥ StartDate). Columns Time,Event,MessageID,From,To,Subject,
 * Domain,SMTPCode (Time ISO 8601 UTC, Event the stored name, Domain the sender domain); UTF-8 BOM; newest
 * first; at most 10,000 rows (X-Octeth-Export-Total, and -Truncated/-Limit when cut); formula-like cells get
 * a leading `'`. Errors (JSON envelope): 2 domain not found/denied, 6 invalid Event or Query.
 */
import { retentionCutoff } from '../src/mail/retention';
import { defineCommand } from '../src/command';
import { EXPORT_LIMIT, exportCsv } from '../src/events/export';
import { eventTypes, optionalDomainScope, queryTerms, zoneOf } from '../src/events/params';
import { countEvents, EventFilter } from '../src/events/query';
import { localDay, statsWindow } from '../src/events/time';
import { streamReply } from '../src/http/stream-reply';

export default defineCommand({
  name: 'emailgateway.exportevents',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    2: 'Domain not found or access denied',
    6: 'Invalid filter: Event a known event name, Query at most 256 characters and 10 terms, MessageID at most 64 characters',
  },
  async run(p, ctx) {
    const scope = await optionalDomainScope(ctx, p.domainid, 2);
    const tz = zoneOf(ctx);
    const now = Date.now();
    const window = statsWindow(p.startdate, p.enddate, tz, now, 30);
    const messageId = typeof p.messageid === 'string' && p.messageid.trim() !== '' ? p.messageid.trim() : undefined;
    const filter: EventFilter = {
      from: window.from,
      to: window.to,
      types: eventTypes(p.event, 6),
      messageId,
      terms: messageId ? undefined : queryTerms(p.query, 6),
    };
    const total = await countEvents(ctx.db, scope, filter, retentionCutoff(ctx.config.messageRetentionDays));
    const headers: Record<string, string> = {
      'Content-Disposition': `attachment; filename="transactional-events-${localDay(now, tz)}.csv"`,
      'X-Octeth-Export-Total': String(total),
      'Cache-Control': 'no-store',
    };
    if (total > EXPORT_LIMIT) Object.assign(headers, { 'X-Octeth-Export-Truncated': '1', 'X-Octeth-Export-Limit': String(EXPORT_LIMIT) });
    return streamReply({ contentType: 'text/csv; charset=utf-8', headers, body: exportCsv(ctx.db, scope, filter, ctx.logger) });
  },
});
