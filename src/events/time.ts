/**
 * Calendar days in a user's time zone (users.time_zone, an IANA name; UTC when unset or unknown). The private
 * event and stats commands take `Y-m-d` dates: a day runs from that zone's local midnight to the next one.
 */
const DAY_MS = 86_400_000;
const YMD = /^(\d{4})-(\d{2})-(\d{2})$/;

const dayFormats = new Map<string, Intl.DateTimeFormat>();
const clockFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone to use for a user: their own when it is a zone this runtime knows, else UTC. */
export function userZone(tz: string | null | undefined): string {
  if (!tz) return 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    return 'UTC';
  }
}

function dayFormat(tz: string): Intl.DateTimeFormat {
  let f = dayFormats.get(tz);
  if (!f) dayFormats.set(tz, (f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return f;
}

function clockFormat(tz: string): Intl.DateTimeFormat {
  let f = clockFormats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    clockFormats.set(tz, f);
  }
  return f;
}

/**
 * The first date a caller may give; the last is 9999-12-31. Below year 1000 the zone formats write years
 * unpadded and JS reads years 0–99 as 19xx, so day keys and offsets would come out wrong.
 */
export const FIRST_DAY = '1000-01-01';

/** Validation: the strict `Y-m-d` value as [y, m, d], or null when it is not a real calendar date from FIRST_DAY on. */
export function parseYmd(v: unknown): [number, number, number] | null {
  const m = typeof v === 'string' ? YMD.exec(v.trim()) : null;
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1000) return null;
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return null;
  return [y, mo, d];
}

/**
 * Arithmetic, on days counted from 1970-01-01: no range check, so the day after 9999-12-31 (which has no
 * `Y-m-d`) still has a midnight. Callers pass days that parseYmd accepted or that this module made.
 */
function dayNumber(ymd: string): number {
  const m = YMD.exec(ymd.trim());
  if (!m) throw new Error(`not a Y-m-d date: ${ymd}`);
  return Math.round(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS);
}

function formatDay(n: number): string {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetMs(tz: string, at: number): number {
  const parts: Record<string, number> = {};
  for (const p of clockFormat(tz).formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(at / 1000) * 1000;
}

/** Epoch ms of local midnight starting day number `n` in `tz`. */
function midnight(n: number, tz: string): number {
  const wall = n * DAY_MS;
  const first = wall - offsetMs(tz, wall);
  const second = offsetMs(tz, first);
  return wall - second;
}

/** Epoch ms of local midnight starting `ymd` in `tz`. */
export function dayStart(ymd: string, tz: string): number {
  return midnight(dayNumber(ymd), tz);
}

/** The local `Y-m-d` of an instant in `tz`. */
export function localDay(ms: number, tz: string): string {
  return dayFormat(tz).format(new Date(ms));
}

/** `ymd` moved by `n` calendar days. */
export function addDays(ymd: string, n: number): string {
  return formatDay(dayNumber(ymd) + n);
}

/** Whole calendar days from `a` to `b` (negative when b is earlier). */
export function daysBetween(a: string, b: string): number {
  return dayNumber(b) - dayNumber(a);
}

export interface DayRange {
  /** First and last local day, inclusive. */
  startDay: string;
  endDay: string;
  /** Epoch ms: local midnight of startDay, and the last ms of endDay. */
  from: number;
  to: number;
}

export function dayRange(startDay: string, endDay: string, tz: string): DayRange {
  return { startDay, endDay, from: dayStart(startDay, tz), to: midnight(dayNumber(endDay) + 1, tz) - 1 };
}

/**
 * The stats commands' window (dailyseries, exportevents, aggrevents): strict `Y-m-d`, an invalid or absent
 * EndDate is today, an invalid or absent StartDate is EndDate − `defaultDays` (not before FIRST_DAY), and EndDate
 * is clamped ≥ StartDate.
 * `maxDays` (when given) caps the window by moving StartDate forward.
 */
export function statsWindow(start: unknown, end: unknown, tz: string, now: number, defaultDays: number, maxDays?: number): DayRange {
  const endDay = parseYmd(end) ? String(end).trim() : localDay(now, tz);
  let startDay = parseYmd(start) ? String(start).trim() : addDays(endDay, -Math.min(defaultDays, daysBetween(FIRST_DAY, endDay)));
  let last = endDay;
  if (daysBetween(startDay, last) < 0) last = startDay;
  if (maxDays !== undefined && daysBetween(startDay, last) >= maxDays) startDay = addDays(last, -(maxDays - 1));
  return dayRange(startDay, last, tz);
}
