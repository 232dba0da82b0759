import type { CommandContext, Params } from '../command';
import { findOwnedDomain } from '../domains/domains';
import { CommandError } from '../errors';
import { EventFilter, EventRow, EventScope, listEvents, MAX_QUERY_TERMS, parseQuery, QueryTerm } from './query';
import { retentionCutoff } from '../mail/retention';
import { dayRange, parseYmd, userZone } from './time';
import { storedEventName } from './vocabulary';

/** Turning the event commands' parameters into a scope and filters. `code` is the command's own error code. */

/** The caller's time zone for `Y-m-d` dates. */
export function zoneOf(ctx: CommandContext): string {
  return userZone(ctx.user?.time_zone);
}

/**
 * DomainID optional (getevents, dailyseries, exportevents): absent or 0 means all of the caller's domains;
 * a domain that is not theirs answers `deniedCode`, as a missing one does.
 */
export async function optionalDomainScope(ctx: CommandContext, domainId: unknown, deniedCode: number): Promise<EventScope> {
  const userId = ctx.user!.id;
  if (domainId === undefined || domainId === null || domainId === '' || Number(domainId) === 0) return { userId };
  const domain = await findOwnedDomain(ctx.db, userId, domainId);
  if (!domain) throw new CommandError(deniedCode);
  return { userId, domainId: Number(domain.id) };
}

/** DomainID required (aggrevents). */
export async function requiredDomainScope(ctx: CommandContext, domainId: unknown, deniedCode: number): Promise<EventScope> {
  const domain = await findOwnedDomain(ctx.db, ctx.user!.id, domainId);
  if (!domain) throw new CommandError(deniedCode);
  return { userId: ctx.user!.id, domainId: Number(domain.id) };
}

/** Event filter in either vocabulary (delivery or delivered, …); absent or '' means every event. */
export function eventTypes(event: unknown, code: number): string[] | undefined {
  if (event === undefined || event === null || String(event).trim() === '') return undefined;
  const stored = storedEventName(String(event));
  if (!stored)
    throw new CommandError(
      code,
      `Unknown Event "${String(event).slice(0, 40)}": use delivery, bounce, open, click, unsubscribe, complaint (or delivered, bounced, opened, clicked, unsubscribed, complained, queued, deferred, failed, …)`,
    );
  return [stored];
}

export function queryTerms(query: unknown, code: number): QueryTerm[] | undefined {
  if (query === undefined || query === null || String(query).trim() === '') return undefined;
  const terms = parseQuery(String(query));
  if (terms.length > MAX_QUERY_TERMS) throw new CommandError(code, `Query has more than ${MAX_QUERY_TERMS} terms`);
  return terms;
}

/**
 * getevents' optional StartDate/EndDate (`Y-m-d`, in the caller's time zone). A malformed date is an error
 * (`code`); an EndDate before StartDate is clamped to StartDate.
 */
export function privateDates(p: Params, tz: string, code: number): { from?: number; to?: number } {
  const has = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';
  for (const k of ['startdate', 'enddate']) {
    if (has(p[k]) && !parseYmd(p[k])) throw new CommandError(code, `${k === 'startdate' ? 'StartDate' : 'EndDate'} must be a Y-m-d date`);
  }
  const start = has(p.startdate) ? String(p.startdate).trim() : undefined;
  let end = has(p.enddate) ? String(p.enddate).trim() : undefined;
  if (start && end && end < start) end = start;
  return {
    from: start ? dayRange(start, start, tz).from : undefined,
    to: end ? dayRange(end, end, tz).to : undefined,
  };
}

/** The page of events StartFrom and RetrieveCount ask for, with their total (counted within MESSAGE_RETENTION_DAYS). */
export function eventsPage(ctx: CommandContext, scope: EventScope, filter: EventFilter, p: Params): Promise<{ total: number; rows: EventRow[] }> {
  return listEvents(ctx.db, scope, filter, Number(p.startfrom), Number(p.retrievecount), retentionCutoff(ctx.config.messageRetentionDays));
}
