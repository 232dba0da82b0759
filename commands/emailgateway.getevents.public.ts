/**
 * emailgateway.getevents.public (GET /api/v1/events) — the sender key's domain's events, newest first.
 * Paging StartFrom (default 0) / RetrieveCount (default 5, ≤ 100); filters StartDate/EndDate (Unix seconds,
 * inclusive), Event (either vocabulary), MessageID.
 * Errors: 1 missing key, 2 account/domain gone, 4 StartFrom, 5 RetrieveCount, 6 invalid filter, 13 invalid key, 429.
 */
import { defineCommand } from '../src/command';
import { eventsPage, eventTypes } from '../src/events/params';
import { presentPublic } from '../src/events/present';

export default defineCommand({
  name: 'emailgateway.getevents.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid sender domain',
    4: 'Invalid StartFrom (an integer ≥ 0)',
    5: 'Invalid RetrieveCount (1 to 100)',
    6: 'Invalid filter: StartDate/EndDate are Unix times, Event a known event name, MessageID at most 64 characters',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const has = (v: unknown) => v !== undefined && v !== null && v !== '';
    const filter = {
      from: has(p.startdate) ? Number(p.startdate) * 1000 : undefined,
      to: has(p.enddate) ? Number(p.enddate) * 1000 + 999 : undefined,
      types: eventTypes(p.event, 6),
      messageId: has(p.messageid) ? String(p.messageid).trim() : undefined,
    };
    const scope = { userId: ctx.user!.id, domainId: Number(ctx.domain!.id) };
    const { total, rows } = await eventsPage(ctx, scope, filter, p);
    return { TotalRecords: total, Events: rows.map(presentPublic) };
  },
});
