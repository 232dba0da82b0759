import type { Knex } from 'knex';
import { addDays, formatDay, Window, windowOf } from './periods';
import { figures, Figures } from './queries';

/**
 * Per-day figures (the domainstats definitions: Sent = accepted, Delivered, Bounced, unique Opened and
 * Clicked) for the days of a window in the user's zone, zero-filled, read from the hourly rollups so the cost
 * grows with the days asked for, not with the mail sent. Each day is the hour buckets between its local
 * midnights, exactly as the window itself is cut (see periods.ts for half-hour zones).
 */
export async function dailyFigures(db: Knex, domainIds: number[], w: Window, tz: string): Promise<({ Date: string } & Figures)[]> {
  const days: { date: string; fromHour: number; toHour: number }[] = [];
  for (let d = w.start; days.length === 0 || days[days.length - 1].date !== formatDay(w.end); d = addDays(d, 1)) {
    const one = windowOf(d, d, tz);
    days.push({ date: formatDay(d), fromHour: one.fromHour, toHour: one.toHour });
  }
  const rows = domainIds.length
    ? ((await db('stats_rollup')
        .whereIn('domain_id', domainIds)
        .where('unit', 'h')
        .where('bucket', '>=', w.fromHour)
        .where('bucket', '<', w.toHour)
        .groupBy('bucket', 'type')
        .select('bucket', 'type')
        .sum({ c: 'count', u: 'unique_count' })) as { bucket: number; type: string; c: unknown; u: unknown }[])
    : [];
  const perDay = days.map(() => new Map<string, { count: number; unique: number }>());
  for (const r of rows) {
    const hour = Number(r.bucket);
    const i = days.findIndex((d) => hour >= d.fromHour && hour < d.toHour);
    if (i < 0) continue;
    const t = perDay[i].get(r.type) ?? perDay[i].set(r.type, { count: 0, unique: 0 }).get(r.type)!;
    t.count += Number(r.c);
    t.unique += Number(r.u);
  }
  return days.map((d, i) => ({ Date: d.date, ...figures(perDay[i]) }));
}
