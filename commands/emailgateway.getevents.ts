/**
 * emailgateway.getevents — the caller's email events, newest first: one domain (DomainID) or all of their
 * domains (DomainID absent or 0). Paging StartFrom/RetrieveCount (≤ 100); filters StartDate/EndDate (Y-m-d in
 * the user's time zone), Event (either vocabulary), Query (grammar in src/events/query.ts).
 * Errors: 2 domain not found/denied, 4 StartFrom, 5 RetrieveCount, 6 invalid filter.
 */
import { defineCommand } from '../src/command';
import { presentPrivate } from '../src/events/present';
import { eventsPage, eventTypes, optionalDomainScope, privateDates, queryTerms, zoneOf } from '../src/events/params';

export default defineCommand({
  name: 'emailgateway.getevents',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    2: 'Domain not found or access denied',
    4: 'Missing required parameter (StartFrom)',
    5: 'Missing required parameter (RetrieveCount, 1 to 100)',
    6: 'Invalid filter: StartDate/EndDate are Y-m-d dates, Event a known event name, Query at most 256 characters and 10 terms',
  },
  async run(p, ctx) {
    const scope = await optionalDomainScope(ctx, p.domainid, 2);
    const filter = { ...privateDates(p, zoneOf(ctx), 6), types: eventTypes(p.event, 6), terms: queryTerms(p.query, 6) };
    const { total, rows } = await eventsPage(ctx, scope, filter, p);
    return { TotalRecords: total, Events: rows.map(presentPrivate) };
  },
});
