import type { Knex } from 'knex';
import type { UserRow } from '../command';
import { findOwnedDomain } from '../domains/domains';
import { formatDay, requestedWindow, Window, zoneOf } from './periods';

/** The `Y-m-d 00:00:00` / `Y-m-d 23:59:59` pair the stats replies echo. */
export function echoWindow(w: Window): { StartDate: string; EndDate: string } {
  return { StartDate: `${formatDay(w.start)} 00:00:00`, EndDate: `${formatDay(w.end)} 23:59:59` };
}

/** The requested days in the caller's time zone. */
export function windowFor(user: UserRow, p: Record<string, unknown>, defaultDays: number): { tz: string; window: Window } {
  const tz = zoneOf(user.time_zone);
  return { tz, window: requestedWindow(p.startdate, p.enddate, defaultDays, tz) };
}

export async function ownedDomainId(db: Knex, user: UserRow, domainId: unknown): Promise<number | null> {
  const d = await findOwnedDomain(db, user.id, domainId);
  return d ? Number(d.id) : null;
}
