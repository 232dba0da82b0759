/**
 * Campaign slots shared across accounts. A worker runs two campaigns at a time; taken first come, first served, one
 * account's long campaigns held every slot while another account's campaign waited for one of them to end. A
 * campaign is running while a worker holds its live lease, waiting while it is `sending` without one, and resting
 * (after an error, no owner, `lease_until` its rest deadline) is neither. An account that already runs a campaign
 * gives way to the oldest waiting campaign of an account that runs none: the claim takes that one instead of the
 * job's, and the newer of an account's running campaigns hands on at its next page. Slots never idle for fairness'
 * sake: with no other account waiting, an account may run in every slot.
 */
import type { Knex } from 'knex';
import { CAMPAIGN_STATUS } from './campaigns';

/** The oldest waiting campaign of an account other than `userId` that has no campaign running. */
async function waitingElsewhere(db: Knex, userId: number, now: number): Promise<number | undefined> {
  const row = await db('campaigns as c')
    .where('c.status', CAMPAIGN_STATUS.sending)
    .whereNot('c.user_id', userId)
    .where((q) => q.whereNull('c.lease_until').orWhere('c.lease_until', '<', now))
    .whereNotExists(
      db('campaigns as r')
        .select(db.raw('1'))
        .whereRaw('?? = ??', ['r.user_id', 'c.user_id'])
        .where('r.status', CAMPAIGN_STATUS.sending)
        .whereNotNull('r.lease_owner')
        .where('r.lease_until', '>=', now),
    )
    .orderBy('c.id')
    .first('c.id');
  return row ? Number(row.id) : undefined;
}

/** Another campaign of the account is running (only an older one, with `older`). */
async function runsAnother(db: Knex, userId: number, id: number, now: number, older: boolean): Promise<boolean> {
  const q = db('campaigns').where({ user_id: userId, status: CAMPAIGN_STATUS.sending }).whereNotNull('lease_owner').where('lease_until', '>=', now);
  if (older) q.where('id', '<', id);
  else q.whereNot('id', id);
  return !!(await q.first('id'));
}

/** The campaign a job for waiting `id` should run instead, when its account already runs one and another account waits. */
export async function giveWayTo(db: Knex, id: number, now = Date.now()): Promise<number | undefined> {
  const row = await db('campaigns')
    .where({ id, status: CAMPAIGN_STATUS.sending })
    .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
    .first('user_id');
  if (!row || !(await runsAnother(db, Number(row.user_id), id, now, false))) return undefined;
  return waitingElsewhere(db, Number(row.user_id), now);
}

/** Whether a running campaign should hand its slot on: its account runs an older one and another account waits. */
export async function shouldHandOn(db: Knex, userId: number, id: number, now = Date.now()): Promise<boolean> {
  return (await runsAnother(db, userId, id, now, true)) && (await waitingElsewhere(db, userId, now)) !== undefined;
}
