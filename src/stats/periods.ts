import { hourOf } from './rollups';

/**
 * Date windows for the stats commands. Dates are `Y-m-d` days in the user's time zone (users.time_zone, an
 * IANA name; UTC when unset or unknown). A window [start day, end day] maps to the rollups' UTC hour buckets
 * [hour of start's local midnight, hour of the local midnight after end). In a zone whose offset is not a
 * whole number of hours (Asia/Kolkata, +05:30), each local midnight is rounded down to the hour bucket that
 * holds it, so such a "day" runs from 23:30 to 23:30 local time.
 */
export interface Day {
  y: number;
  m: number;
  d: number;
}

export interface Window {
  start: Day;
  end: Day;
  fromHour: number;
  /** Exclusive. */
  toHour: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(tz, f);
  }
  return f;
}

/** The user's zone when it is a usable IANA name, else UTC. */
export function zoneOf(tz: unknown): string {
  if (typeof tz !== 'string' || !tz) return 'UTC';
  try {
    formatFor(tz);
    return tz;
  } catch {
    return 'UTC';
  }
}

function localParts(ms: number, tz: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const p: Record<string, number> = {};
  for (const part of formatFor(tz).formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year, m: p.month, d: p.day, h: p.hour, mi: p.minute, s: p.second };
}

/** Milliseconds the zone is ahead of UTC at the instant `ms`. */
function offsetMs(ms: number, tz: string): number {
  const l = localParts(ms, tz);
  return Date.UTC(l.y, l.m - 1, l.d, l.h, l.mi, l.s) - (ms - (((ms % 1000) + 1000) % 1000));
}

/** The UTC instant of a day's local midnight. */
export function localMidnight(day: Day, tz: string): number {
  const guess = Date.UTC(day.y, day.m - 1, day.d);
  const first = guess - offsetMs(guess, tz);
  return guess - offsetMs(first, tz);
}

export function today(tz: string, now = Date.now()): Day {
  const l = localParts(now, tz);
  return { y: l.y, m: l.m, d: l.d };
}

export function addDays(day: Day, n: number): Day {
  const t = new Date(Date.UTC(day.y, day.m - 1, day.d) + n * 86_400_000);
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

function dayNumber(day: Day): number {
  return Math.round(Date.UTC(day.y, day.m - 1, day.d) / 86_400_000);
}

/** A strict `Y-m-d` calendar date (years 1970..9999), else null. */
export function parseDay(v: unknown): Day | null {
  if (typeof v !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v.trim());
  if (!m) return null;
  const day = { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  if (day.y < 1970 || day.m < 1 || day.m > 12 || day.d < 1) return null;
  const back = addDays(day, 0);
  return back.y === day.y && back.m === day.m && back.d === day.d ? day : null;
}

export function formatDay(day: Day): string {
  return `${String(day.y).padStart(4, '0')}-${String(day.m).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`;
}

export function windowOf(start: Day, end: Day, tz: string): Window {
  return { start, end, fromHour: hourOf(localMidnight(start, tz)), toHour: hourOf(localMidnight(addDays(end, 1), tz)) };
}

/**
 * StartDate/EndDate as the stats commands read them: a missing or malformed date takes its default
 * (EndDate today, StartDate `defaultDays` before today), and an EndDate before StartDate is clamped to it.
 */
export function requestedWindow(startDate: unknown, endDate: unknown, defaultDays: number, tz: string, now = Date.now()): Window {
  const t = today(tz, now);
  const start = parseDay(startDate) ?? addDays(t, -defaultDays);
  let end = parseDay(endDate) ?? t;
  if (dayNumber(end) < dayNumber(start)) end = start;
  return windowOf(start, end, tz);
}

/** The window of the same number of days that ends the day before `w` starts. */
export function previousWindow(w: Window, tz: string): Window {
  const days = dayNumber(w.end) - dayNumber(w.start) + 1;
  const end = addDays(w.start, -1);
  return windowOf(addDays(end, -(days - 1)), end, tz);
}

/** The quota's month (UTC calendar month, as src/mail/quota.ts counts it) and day, as hour ranges. */
export function utcMonthAndDay(now = Date.now()): { month: { fromHour: number; toHour: number }; day: { fromHour: number; toHour: number } } {
  const d = new Date(now);
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const dayStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return { month: { fromHour: hourOf(monthStart), toHour: hourOf(nextMonth) }, day: { fromHour: hourOf(dayStart), toHour: hourOf(dayStart) + 24 } };
}
