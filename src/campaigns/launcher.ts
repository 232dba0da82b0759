/**
 * The campaign launcher, a worker task. A launch only marks the campaign `sending` and names it in a job; the
 * worker that takes the job leases the campaign row and pages through the list by subscriber id, 250 members at a
 * time (fewer when the content is large: membersPerPage), each page accepted through the list-send path in its own transaction, then moves the cursor. No request
 * stays open and no transaction spans the list. A worker that dies leaves a lease that expires; the sweeper names
 * the campaign again and the next worker resumes at the cursor, skipping members the page before the crash
 * already reached (messages.campaign_id + subscriber_id are unique, so a member is never sent a campaign twice).
 * The slots are shared across accounts (fair-share.ts): an account that already runs a campaign gives way to another
 * account's waiting one, at the claim and at its next page.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Services } from '../command';
import { findUser } from '../auth/users';
import type { DomainRow } from '../domains/domains';
import { subscribedMembers } from '../lists/api';
import { membersPerPage, sendToMembers } from '../mail/list-send';
import { QUOTA_PROBLEM } from '../mail/accept';
import { refusedForEveryone } from '../mail/prepare';
import { CAMPAIGN_STATUS, campaignRequest, CampaignRow, senderOf } from './campaigns';
import { giveWayTo, shouldHandOn } from './fair-share';
import { leaseOwner } from '../lease-owner';
import { sql } from '../db';
import { CommitStatement, IdempotencySuperseded } from '../idempotency/keys';

export const CAMPAIGN_QUEUE = 'campaigns';

export interface CampaignJob {
  campaignId: number;
}

/**
 * Names the campaign in a job; the lease decides who works on it, so a duplicate job is harmless, but not free. A
 * sweep's job is named for the campaign and the lease period: while it waits (behind other campaigns), later sweeps
 * of every worker add nothing, where each added one more. A new period gives a new name, so a job BullMQ keeps as
 * failed holds the campaign back one period at most. Launch and hand-on jobs are named afresh: one-off events.
 */
export async function nudgeCampaign(services: Services, campaignId: number, opts: { sweep?: boolean } = {}): Promise<void> {
  const jobId = opts.sweep
    ? `c${campaignId}-s${Math.floor(Date.now() / (services.config.leaseSeconds * 1000))}`
    : `c${campaignId}-${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;
  await services.queues.queue<CampaignJob>(CAMPAIGN_QUEUE).add('launch', { campaignId }, { jobId });
}

export interface CampaignWorker {
  /**
   * Works one campaign until it is done, cancelled, failed, handed on, or its lease is lost: the job's, or, when its
   * account already runs one, another account's waiting campaign (the job's is named again, behind the others).
   */
  run(campaignId: number): Promise<void>;
  /** Names every sending campaign whose lease expired (its worker died, or its job was lost). */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function createCampaignWorker(services: Services): CampaignWorker {
  const { db, config, logger } = services;
  const owner = leaseOwner(os.hostname(), process.pid, 'camp');
  const leaseMs = config.leaseSeconds * 1000;
  // Set by stop(): a running campaign ends after its current page, so a shutdown waits for one page, not the list.
  let stopping = false;

  async function finish(id: number, status: string, error: string | null = null): Promise<void> {
    const now = Date.now();
    await db('campaigns').where({ id, lease_owner: owner, status: CAMPAIGN_STATUS.sending }).update({ status, error, completed_at: now, updated_at: now });
  }

  async function run(id: number): Promise<void> {
    const other = await giveWayTo(db, id);
    if (other !== undefined) {
      // The job's account already has a slot and another account waits: this slot goes to that account's campaign,
      // and the job's campaign waits for the next one (a new job, behind the others).
      await nudgeCampaign(services, id).catch((err) =>
        logger.warn('campaign job not added; the sweeper will start it', { campaignId: id, error: (err as Error).message }),
      );
      if (await claim(other)) return;
    }
    await claim(id);
  }

  /** Takes the campaign's lease and works it; false when another worker holds it or it is not sending. */
  async function claim(id: number): Promise<boolean> {
    const now = Date.now();
    const took = await db('campaigns')
      .where({ id, status: CAMPAIGN_STATUS.sending })
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .update({ lease_until: now + leaseMs, lease_owner: owner });
    if (!took) return false;
    await work(id);
    return true;
  }

  async function work(id: number): Promise<void> {
    let handOn = false;
    let errored = false;
    try {
      // Taken over or resumed: count what earlier workers accepted (the page before a crash included).
      const [{ n }] = await db('messages').where({ campaign_id: id }).count({ n: '*' });
      await db('campaigns')
        .where({ id, lease_owner: owner })
        .update({ queued: Number(n) });
      const first: CampaignRow = await db('campaigns').where({ id }).first();
      const from = await senderOf(db, first);
      const [user, domain] = await Promise.all([
        findUser(db, first.user_id),
        'domainId' in from ? db('sender_domains').where({ id: from.domainId }).first() : undefined,
      ]);
      if ('problem' in from || !user || !domain || first.list_id === null) {
        await finish(id, CAMPAIGN_STATUS.failed, 'problem' in from ? from.problem : 'The campaign has no list or its account is gone');
        return;
      }
      const sender = { user, domain: domain as DomainRow, apiKeyId: null, source: 'api' as const };
      const req = campaignRequest(first, from);
      const refs = { campaignId: id, listSend: true };
      const perPage = membersPerPage(services, req, {});
      for (;;) {
        // A turn of the event loop between pages: on the embedded store every query of a page completes without I/O,
        // so without it a long campaign held the whole process (its API included) until its last page.
        await new Promise((resolve) => setImmediate(resolve));
        // Stopping: the lease goes below, and another worker (or this one after a restart) resumes at the cursor.
        // Giving way (fair-share.ts): the same, so a waiting campaign of another account takes the slot.
        if (stopping || (await shouldHandOn(db, first.user_id, id))) {
          handOn = true;
          return;
        }
        const row: CampaignRow | undefined = await db('campaigns').where({ id }).first();
        if (!row || row.status !== CAMPAIGN_STATUS.sending || (row as { lease_owner?: string }).lease_owner !== owner) return;
        // The account and domain as they are now, for each page: disabling either stops a campaign under way (the
        // send path refuses the page and the campaign fails, saying why), not only one that has not started.
        const [userNow, domainNow] = await Promise.all([findUser(db, first.user_id), db('sender_domains').where({ id: domain.id }).first()]);
        if (!userNow || !domainNow) {
          await finish(id, CAMPAIGN_STATUS.failed, 'The campaign has no list or its account is gone');
          return;
        }
        sender.user = userNow;
        sender.domain = domainNow as DomainRow;
        const members = await subscribedMembers(db, first.list_id, Number(domain.id), { order: 'id', limit: perPage, afterId: Number(row.cursor) });
        if (!members.length) {
          await finish(id, CAMPAIGN_STATUS.completed);
          logger.info('campaign completed', { campaignId: id, queued: row.queued });
          return;
        }
        const reached = new Set(
          (
            await db('messages')
              .where({ campaign_id: id })
              .whereIn(
                'subscriber_id',
                members.map((m) => m.id),
              )
              .pluck('subscriber_id')
          ).map(Number),
        );
        const todo = members.filter((m) => !reached.has(m.id));
        let accepted = 0;
        let skipped = 0;
        if (todo.length) {
          // The page commits only while the campaign is still sending under this lease: a cancel (or a takeover) made
          // while it was prepared rolls it back (GuardLost, surfacing as IdempotencySuperseded), and one made later waits
          // on this row's lock until the page is committed, then finds its messages to cancel.
          const stillOurs: CommitStatement = (q) =>
            sql(q, 'update `campaigns` set `lease_until` = ? where `id` = ? and `status` = ? and `lease_owner` = ?', [
              Date.now() + leaseMs,
              id,
              CAMPAIGN_STATUS.sending,
              owner,
            ]);
          const page = await sendToMembers(services, sender, req, refs, todo, () => stillOurs).catch((err) => {
            if (err instanceof IdempotencySuperseded) return null;
            throw err;
          });
          if (!page) continue; // nothing written: the next turn reads the campaign and stops
          if (!page.ok) {
            // Every member refused. The campaign fails only for a reason that refuses everyone (the quota, or launch's
            // own checks on the sender and content this page was sent with); a refusal about the members themselves
            // (suppressed since the page was read) skips them, as one member's among others always did.
            const everyone = page.problems.some((p) => p.code === QUOTA_PROBLEM.code) ? page.problems : await refusedForEveryone(services, sender, req, refs);
            if (everyone.length) {
              await finish(
                id,
                CAMPAIGN_STATUS.failed,
                everyone
                  .map((p) => p.message)
                  .join('; ')
                  .slice(0, 1000),
              );
              return;
            }
          }
          accepted = page.ok ? page.messageIds.length : 0;
          skipped = todo.length - accepted;
          if (skipped)
            logger.warn('campaign members refused one by one; skipped', {
              campaignId: id,
              skipped,
              ...(page.ok ? {} : { reason: page.problems[0]?.message }),
            });
        }
        await db('campaigns')
          .where({ id, lease_owner: owner })
          .update({
            cursor: members[members.length - 1].id,
            queued: db.raw('?? + ?', ['queued', accepted]),
            // With the cursor: a page is counted once, however often a crash makes it be read again.
            skipped: db.raw('?? + ?', ['skipped', skipped]),
            lease_until: Date.now() + leaseMs,
            updated_at: Date.now(),
          });
      }
    } catch (err) {
      errored = true;
      throw err;
    } finally {
      // After an error the campaign rests for a sweep interval before anyone takes it again: released at once, it
      // looked waiting, and fair-share (fair-share.ts) gave it every slot it asked for, failing in a tight loop.
      const rest = errored ? Date.now() + config.sweepIntervalSeconds * 1000 : null;
      const released = await db('campaigns').where({ id, lease_owner: owner }).update({ lease_until: rest, lease_owner: null });
      // Handed on at once rather than at another worker's next sweep (best-effort: the sweep is the backstop).
      if (handOn && released)
        await nudgeCampaign(services, id).catch((err) =>
          logger.warn('campaign job not added; the sweeper will resume it', { campaignId: id, error: (err as Error).message }),
        );
    }
  }

  async function sweep(): Promise<number> {
    const ids: number[] = await db('campaigns')
      .where({ status: CAMPAIGN_STATUS.sending })
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', Date.now()))
      .limit(100)
      .pluck('id');
    for (const id of ids) await nudgeCampaign(services, Number(id), { sweep: true });
    return ids.length;
  }

  const queue = services.queues.queue<CampaignJob>(CAMPAIGN_QUEUE);
  queue.process(
    async (job) => {
      await run(job.data.campaignId).catch((err) =>
        logger.error('campaign page failed; the sweeper will resume it', { campaignId: job.data.campaignId, error: (err as Error).stack }),
      );
    },
    { concurrency: 2 },
  );
  const tick = () => void sweep().catch((err) => logger.warn('campaign sweep failed', { error: (err as Error).message }));
  const timer = setInterval(tick, config.sweepIntervalSeconds * 1000);
  timer.unref();
  setImmediate(tick);
  return {
    run,
    sweep,
    /** Takes no more jobs; a running campaign ends after its current page and is left to be resumed. */
    async stop() {
      stopping = true;
      clearInterval(timer);
      await queue.stopProcessing();
    },
  };
}
