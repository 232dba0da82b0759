/**
 * emailgateway.aggrevents — event counts of one domain grouped by AggregatedField: `event` (default; keys in
 * the private vocabulary: delivery, bounce, open, …), `recipient_domain` (also `message.to-domain`),
 * `recipient`, or `tag`. AggregateSize buckets (default 10, at most 1000), most documents first. Window
 * StartDate/EndDate (Y-m-d in the user's time zone; default the last 30 days); optional Event filter.
 * Errors: 1 missing DomainID, 2 domain not found/denied, 3 invalid field, size, date or event.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { aggregateEvents, aggregateField } from '../src/events/aggregate';
import { eventTypes, privateDates, requiredDomainScope, zoneOf } from '../src/events/params';
import { statsWindow } from '../src/events/time';

export default defineCommand({
  name: 'emailgateway.aggrevents',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found or access denied',
    3: 'Invalid parameter: AggregatedField is event, recipient_domain, recipient or tag; AggregateSize 1 to 1000; StartDate/EndDate Y-m-d; Event a known event name',
  },
  async run(p, ctx) {
    const scope = await requiredDomainScope(ctx, p.domainid, 2);
    const field = aggregateField(p.aggregatedfield);
    if (!field) throw new CommandError(3, `Unknown AggregatedField "${String(p.aggregatedfield).slice(0, 40)}": use event, recipient_domain, recipient or tag`);
    const tz = zoneOf(ctx);
    privateDates(p, tz, 3); // rejects malformed dates; the window itself defaults like the other stats commands
    const window = statsWindow(p.startdate, p.enddate, tz, Date.now(), 30);
    const filter = { from: window.from, to: window.to, types: eventTypes(p.event, 3) };
    const buckets = await aggregateEvents(ctx.db, scope, filter, field, Number(p.aggregatesize));
    return { AggBuckets: buckets };
  },
});
