import { LRUCache } from 'lru-cache';
import { open } from '../auth/secrets';
import { DomainRow, STATUS } from '../domains/domains';
import { composeHosts } from '../domains/names';
import { backoffMs, RetryPolicy } from '../retry/backoff';
import { whitelisted } from '../suppression/scopes';
import { forgetSoftBounces, noteSoftBounce, SOFT_CLASSES } from '../suppression/soft-bounces';
import { classifyReply, retryHintSeconds } from './classify';
import { enqueueDeliveries } from './enqueue';
import type { SendOutcome } from './outcome';
import { Dkim } from './transports';
import { logAttempt } from './attempt-log';
import { verpAddress, verpSecret } from './verp';
import { LeaseSettle, UnreadLease } from './lease-settle';
import type { BudgetHold } from './byte-budget';
import { Leased, WorkerCtx } from './worker-ctx';
import { SendComposer } from './compose-at-send';
import { isOutage } from '../outage';
import { SUSPENSION, SWITCHED_OFF } from './held-by';
import { senderSwitchedOff } from './switched-off-hold';
import { cancelLeased } from './cancelled-campaign';
import { CAMPAIGN_STATUS } from '../campaigns/campaigns';
import { suppressedSinceAccept } from './suppressed-since';

/** Domain rows and decrypted DKIM keys one worker keeps at most. */
const CACHED_DOMAINS = 10_000;

/**
 * A `delivered` event's data: the remote reply, and how the message crossed the wire: `tls` is the protocol
 * (`TLSv1.3`) with `tls_cipher`, or `none` when it went in clear; to an MX, `tls_policy` is the rule the hop was held to
 * (`may`, `encrypt`, `verify`, or `mta-sts`: the domain's enforce policy). No TLS fields where no SMTP hop was made (capture).
 */
function deliveredData(outcome: Extract<SendOutcome, { ok: true }>): Record<string, unknown> {
  if (outcome.tls === undefined) return { smtp_reply: outcome.response };
  const policy = outcome.tlsPolicy ? { tls_policy: outcome.tlsPolicy } : {};
  if (outcome.tls === null) return { smtp_reply: outcome.response, tls: 'none', ...policy };
  return { smtp_reply: outcome.response, tls: outcome.tls.protocol, tls_cipher: outcome.tls.cipher, ...policy };
}

/**
 * One send attempt of a delivery: lease its row, ask the throttle, DKIM-sign and hand it over with a VERP return
 * path, then settle the outcome (delivered, bounced, failed, or deferred to a retry). Domain rows and decrypted DKIM
 * keys are cached per worker. `hold`: the delivery's share of the worker's byte budget, resized to its body at lease.
 */
export function createSendAttempt(ctx: WorkerCtx, { lease, settle: settleDurably }: LeaseSettle): (deliveryId: number, hold?: BudgetHold) => Promise<void> {
  const { db, config, logger } = ctx.services;
  const { owner, services, throttle, transports } = ctx;
  const secret = verpSecret(services);
  const composer = new SendComposer(db, config);
  // RETRY_SCHEDULE_SECONDS (the last step repeats), lengthened by a server's "try again in" hint, never past 8 h.
  const retry: RetryPolicy = { scheduleMs: config.retryScheduleSeconds.map((s) => s * 1000), capMs: 8 * 3_600_000 };

  // Per domain id, bounded so a worker serving many domains keeps only the ones it sends for.
  const keys = new LRUCache<number, { sealed: string; key: string; until: number }>({ max: CACHED_DOMAINS });
  /** `until` null: the read is still in flight (its callers share it, whatever DOMAIN_CACHE_MS says). */
  const domains = new LRUCache<number, { row: Promise<DomainRow | undefined>; until: number | null }>({ max: CACHED_DOMAINS });
  /**
   * Domain rows change rarely: each worker rereads one at most every DOMAIN_CACHE_MS (10 s by default). A read in
   * flight is shared: a worker starting with DELIVERY_CONCURRENCY=200 sent 200 identical reads at once, which ran the
   * pool out of connections and failed leased deliveries (left leased until LEASE_SECONDS ran out).
   */
  function domainOf(id: number): Promise<DomainRow | undefined> {
    const hit = domains.get(id);
    if (hit && (hit.until === null || hit.until > Date.now())) return hit.row;
    // A real promise: a knex builder runs its query again for every `then`.
    const row: Promise<DomainRow | undefined> = Promise.resolve(db('sender_domains').where({ id }).first());
    const entry: { row: Promise<DomainRow | undefined>; until: number | null } = { row, until: null };
    domains.set(id, entry);
    const settled = () => {
      if (domains.get(id) !== entry) return;
      if (config.domainCacheMs > 0) entry.until = Date.now() + config.domainCacheMs;
      else domains.delete(id);
    };
    // A failed read is not kept: the next caller reads again.
    row.then(settled, () => domains.get(id) === entry && domains.delete(id));
    return row;
  }

  function dkimFor(domain: DomainRow): Dkim | null {
    if (!config.dkimSigning) return null;
    // Keyed by the sealed key too: after a DKIM rotation the row's new selector must never sign with the old key.
    let k = keys.get(domain.id);
    if (!k || k.until < Date.now() || k.sealed !== domain.dkim_private_key_enc) {
      k = { sealed: domain.dkim_private_key_enc, key: open(domain.dkim_private_key_enc, config), until: Date.now() + 300_000 };
      keys.set(domain.id, k);
    }
    return { domainName: domain.domain, keySelector: domain.dkim_selector, privateKey: k.key };
  }

  async function attempt(deliveryId: number, hold?: BudgetHold): Promise<void> {
    let d: Leased | null;
    try {
      d = await lease(deliveryId, hold);
    } catch (err) {
      // Leased but never read to the end (see lease): given back now, like an attempt that failed before its send.
      if (!(err instanceof UnreadLease)) throw err;
      await release(err.leased, err.stamps);
      throw err.cause;
    }
    if (!d) return;
    const progress = { handedOver: false };
    try {
      await sendLeased(d, progress);
    } catch (err) {
      // Failed before the message went out (a database or DNS error): give the row back now rather than leave it
      // leased, unsent, until LEASE_SECONDS ran out. Once handed over, the outcome is the settle path's to record.
      if (!progress.handedOver) await release(d);
      throw err;
    }
  }

  /**
   * Back to waiting (deferred after an attempt, else queued) with no attempt counted, due again after the retry
   * schedule's step for its attempt count, with a fresh job. Best effort: when the database is still away the
   * lease stays and runs out as before (the sweeper then takes the row).
   */
  async function release(d: Leased, stamps?: number[]): Promise<void> {
    try {
      await backToWaiting(d, Date.now() + backoffMs(retry, Number(d.attempts)), stamps);
    } catch (err) {
      logger.warn('lease of a failed attempt not released; it runs out after LEASE_SECONDS', { deliveryId: Number(d.id), error: (err as Error).message });
    }
  }

  async function sendLeased(d: Leased, progress: { handedOver: boolean }): Promise<void> {
    // Its campaign was cancelled since it was queued (the cancel's pass skips leased rows), or its row is gone (read as
    // cancelled, lease-settle.ts): cancelled, never sent.
    if (d.campaign_status === CAMPAIGN_STATUS.cancelled) {
      if (await cancelLeased(db, owner, d)) logger.debug('delivery cancelled: its campaign is cancelled', { deliveryId: Number(d.id) });
      return;
    }
    // A suspended domain's mail waits for the lift: the status as of the lease, not the cached row's (seconds old).
    if (d.domain_status === STATUS.suspended) return holdSuspended(d);
    const domain = await domainOf(Number(d.domain_id));
    const attempts = Number(d.attempts) + 1;
    const log = (outcome: 'delivered' | 'deferred' | 'bounced' | 'failed', reply: string, nextRetryAt?: number, source?: string) =>
      logAttempt(logger, { messageId: d.message_id, deliveryId: Number(d.id), recipient: d.recipient, attempt: attempts, outcome, reply, nextRetryAt, source });
    // Failed with no SMTP attempt (none counted), still through the settle path: its `failed` event feeds webhooks and stats.
    const failed = async (reply: string) => {
      const done = Date.now();
      const item = {
        d,
        update: { status: 'failed', last_reply: reply, finished_at: done },
        type: 'failed',
        data: { smtp_reply: reply },
        attempts: attempts - 1,
        done,
      };
      if (await settleDurably(item)) services.metrics.delivery('failed', null, Number(d.created_at), done);
      log('failed', reply);
    };
    if (!d.found_message || !domain) return failed('message or domain no longer exists');
    // Switched off since its mail was accepted (the admin disabled the account, or its owner the domain): not sent
    // while it stays so, held without an attempt counted; past DELIVERY_MAX_AGE_SECONDS it fails, as any mail does.
    const off =
      d.account_status !== 'Enabled' ? 'the sender account is disabled' : d.domain_status === STATUS.disabled ? 'the sender domain is disabled' : null;
    if (off) {
      const dueSince = Math.max(Number(d.created_at), Number(d.send_at ?? 0));
      const failsAt = dueSince + Number(d.held_ms ?? 0) + config.deliveryMaxAgeSeconds * 1000;
      if (Date.now() >= failsAt) return failed(`not sent: ${off}`);
      return holdSwitchedOff(d, off, failsAt);
    }
    // Suppressed since it was accepted (a bounce or complaint from another message, an unsubscribe, an entry added):
    // never sent, settled as the accept settles a suppressed recipient; so is a campaign's or list send's copy whose
    // recipient left its list (unsubscribed, deleted). Fresh first attempts skip the lookup.
    const stopped = await suppressedSinceAccept(services.store, d, Date.now());
    if (stopped) return suppressedNow(d, stopped);
    const from = verpAddress(secret, Number(d.id), composeHosts(domain, config).mfromHost);
    let raw: Buffer;
    const content = d.content;
    const stored = d.mime ?? d.message_mime;
    // The row object lives on until its outcome is settled (a group commit, after the SMTP exchange); its body is not
    // needed past this point. Let go of it now, so it can die young instead of being copied by the young-generation
    // collections during that wait and promoted.
    d.content = d.mime = d.message_mime = null;
    if (content) {
      try {
        raw = await composer.bytesFor({ message_id: d.message_id, recipient: d.recipient, track_id: d.track_id, content }, domain);
      } catch (err) {
        // The database away (tracked links not written) is retried by the sweeper; content that cannot be composed never will be.
        if (isOutage(err)) throw err;
        return failed(`message cannot be composed: ${(err as Error).message}`);
      }
    } else {
      raw = Buffer.isBuffer(stored) ? stored : Buffer.from(stored ?? '');
    }
    let dkim: Dkim | null = null;
    let keyError: string | null = null;
    try {
      dkim = dkimFor(domain);
    } catch {
      // Encrypted with another ENCRYPTION_KEY, or damaged: deferred with a reply that says so, never sent unsigned.
      keyError = `DKIM signing failed: the DKIM key of ${domain.domain} cannot be decrypted; check ENCRYPTION_KEY`;
    }
    const meta = { deliveryId: Number(d.id), messageId: d.message_id, userId: Number(d.user_id), domainId: Number(d.domain_id) };
    // Per-destination limits: a send they refuse goes back to wait, neither failed nor counted as an attempt.
    const rcptDomain = d.recipient.slice(d.recipient.lastIndexOf('@') + 1).toLowerCase();
    const mx = throttle.needsMx ? await transports.mxHostsFor(rcptDomain) : [];
    const admission = keyError ? null : await throttle.admit(rcptDomain, mx);
    if (admission && !admission.ok) return putBack(d, admission.retryAt, admission.rule.name, admission.reason);
    // The SMTP exchange ends by half the lease (at most 10 min into it), so its outcome is settled while the lease is
    // ours; past that, the sweeper may give the row to another attempt, so a send not yet started goes back instead.
    const deadline = Number(d.lease_until) - Math.max(config.leaseSeconds * 500, config.leaseSeconds * 1000 - 600_000);
    if (Date.now() >= deadline) {
      if (admission?.ok) admission.release();
      return release(d);
    }
    let outcome: SendOutcome;
    progress.handedOver = true;
    try {
      // The domain's IP pool comes with its cached row (no query of its own); the spread is ip-pools.ts's PoolChoice.
      const pool = { pool: domain.ip_pool || config.defaultIpPool, spread: Number(d.id) + attempts };
      outcome = keyError ? { ok: false, response: keyError } : await transports.send({ from, to: d.recipient }, raw, dkim, meta, deadline, pool);
    } finally {
      if (admission?.ok) admission.release();
    }
    if (!outcome.ok && !keyError) {
      const level = await throttle.heard(rcptDomain, mx, outcome.code, outcome.response).catch(() => null);
      if (level)
        logger.warn('destination asked to slow down: its rate is halved', { destination: rcptDomain, halvings: level, reply: outcome.response.slice(0, 200) });
    }
    const done = Date.now();
    // Status, event and suppression land together or not at all.
    const settle = (update: Record<string, unknown>, type: string, data: Record<string, unknown>, suppress?: string) =>
      settleDurably({ d, update, type, data, suppress, attempts, done }).then((recorded) => {
        if (recorded) services.metrics.delivery(type, update.bounce_class as string | null, Number(d.created_at), done);
        return recorded;
      });

    if (outcome.ok) {
      const data = deliveredData(outcome);
      // A row without a reply keeps none (its size, so the UPDATE is in place); the 250 reply is in the event (Leased.had_reply).
      const recorded = await settle(
        { status: 'delivered', ...(Number(d.had_reply) ? { last_reply: outcome.response } : {}), finished_at: done, bounce_class: null },
        'delivered',
        data,
      );
      if (recorded && typeof data.tls === 'string') services.metrics.deliveredOver(data.tls);
      log('delivered', outcome.response, undefined, outcome.source);
      // Delivered after a refusal: the address took mail again, so its soft bounces go. Only then: one more query per
      // delivered message (most are delivered at once) was a round trip on the hot path.
      if (recorded && attempts > 1) {
        await forgetSoftBounces(services, d).catch((err) => logger.warn('soft bounce count not cleared', { deliveryId: d.id, error: (err as Error).message }));
      }
      return;
    }
    const verdict = classifyReply(outcome.code, outcome.response);
    // Its age counts from when it was first due (a scheduled send's SendAt), less the time an operator held it.
    const dueSince = Math.max(Number(d.created_at), Number(d.send_at ?? 0));
    const tooOld = done - dueSince - Number(d.held_ms ?? 0) >= config.deliveryMaxAgeSeconds * 1000;
    if (verdict.permanent || tooOld) {
      const status = verdict.permanent ? 'bounced' : 'failed';
      // The classifier says whether this refusal blames the address; the account's whitelist can overrule it.
      const suppress = verdict.suppress && !(await whitelisted(db, Number(d.user_id), d.recipient)) ? outcome.response : undefined;
      const recorded = await settle(
        { status, last_reply: outcome.response, bounce_class: verdict.class, finished_at: done },
        status,
        { smtp_reply: outcome.response, bounce_class: verdict.class },
        suppress,
      );
      log(status, outcome.response, undefined, outcome.source);
      // Given up on with a soft reply (retried past DELIVERY_MAX_AGE_SECONDS): one soft bounce towards SOFT_BOUNCE_LIMIT.
      if (recorded && SOFT_CLASSES.has(verdict.class)) {
        await noteSoftBounce(services, d, outcome.response).catch((err) =>
          logger.warn('soft bounce not counted', { deliveryId: d.id, error: (err as Error).message }),
        );
      }
      return;
    }
    const hint = retryHintSeconds(outcome.response);
    const next = done + backoffMs(retry, attempts, hint === null ? null : hint * 1000);
    const recorded = await settle({ status: 'deferred', next_attempt_at: next, last_reply: outcome.response, bounce_class: verdict.class }, 'deferred', {
      smtp_reply: outcome.response,
      bounce_class: verdict.class,
      next_attempt_at: Math.floor(next / 1000),
    });
    log('deferred', outcome.response, next, outcome.source);
    // A refusal that is retried counts no soft bounce, however many: a greylisting server refuses every message's
    // first attempt, and a burst of messages all had theirs refused before any retry was taken.
    if (recorded) {
      await enqueueDeliveries(services, [{ id: Number(d.id), attempts, runAt: next }]).catch((err) =>
        logger.warn('retry could not be enqueued; the sweeper will pick it up', { deliveryId: d.id, error: (err as Error).message }),
      );
    }
  }

  /**
   * Ended unsent, its recipient suppressed (or gone from its campaign's or list send's list) since the accept: status and event
   * `suppressed` (the accept's event for a recipient it drops) with `reason`, through the settle path so stats and the
   * message's lookup agree; no attempt counted.
   */
  async function suppressedNow(d: Leased, reason: string): Promise<void> {
    const done = Date.now();
    const item = {
      d,
      update: { status: 'suppressed', last_reply: reason, finished_at: done },
      type: 'suppressed',
      data: { reason },
      attempts: Number(d.attempts),
      done,
    };
    if (await settleDurably(item)) services.metrics.delivery('suppressed', null);
    logger.info('delivery not sent: its recipient was suppressed after it was accepted', { deliveryId: Number(d.id), messageId: d.message_id, reason });
  }

  /**
   * Held with its suspended domain's queue (suspension-hold.ts) instead of sent: no attempt counted, no event, no job;
   * the lift releases it. The UPDATE also checks the domain is still Suspended (a locking read on MySQL, serialised
   * with the lift's row lock), so a lift committed since the read above cannot leave it held: it is then given back.
   */
  async function holdSuspended(d: Leased): Promise<void> {
    const now = Date.now();
    const moved = await db('deliveries')
      .where({ id: d.id, lease_owner: owner, lease_until: d.lease_until })
      .whereExists(db('sender_domains').where({ id: d.domain_id, status: STATUS.suspended }).select(db.raw('1')))
      .update({
        status: 'held',
        held_from: Number(d.attempts) > 0 ? 'deferred' : 'queued',
        held_at: now,
        held_by: SUSPENSION,
        lease_until: 0,
        updated_at: now,
      });
    if (moved) {
      // Debug: a large batch expanded after a suspension is held one delivery at a time.
      logger.debug('delivery held: its sender domain is suspended', { deliveryId: Number(d.id), domainId: Number(d.domain_id) });
      return;
    }
    // Lifted since the lease (or the lease lost): back to waiting, due now as the lift's own releases are.
    await backToWaiting(d, now);
  }

  /**
   * A leased delivery back to waiting (deferred after an attempt, else queued), due at `runAt`, with no attempt
   * counted, no event and a fresh job (the running one's id must not swallow it). False when the lease was no longer this attempt's. A lost enqueue is the sweeper's to recover.
   * `stamps`: the lease_until values that are this attempt's (UnreadLease); by default the lease's own.
   */
  async function backToWaiting(d: Leased, runAt: number, stamps = [Number(d.lease_until)]): Promise<boolean> {
    const attempts = Number(d.attempts);
    // Owner and stamp say the lease is this attempt's (the lease leaves the status alone: leased.ts). The status is
    // written as before: unchanged for a queued or deferred row (no index entry moves), a scheduled one due now (or a
    // row an earlier release stored as 'sending') waits as queued or deferred.
    const moved = await db('deliveries')
      .where({ id: d.id, lease_owner: owner })
      .whereIn('lease_until', stamps)
      .update({
        status: attempts > 0 ? 'deferred' : 'queued',
        next_attempt_at: runAt,
        lease_until: 0,
        updated_at: Date.now(),
      });
    if (!moved) return false;
    await enqueueDeliveries(services, [{ id: Number(d.id), attempts, runAt, retake: runAt }]).catch((err) =>
      logger.warn('delivery put back could not be enqueued; the sweeper will pick it up', { deliveryId: d.id, error: (err as Error).message }),
    );
    return true;
  }

  /**
   * Held while its account or domain is switched off (switched-off-hold.ts): no attempt counted, no event, no job;
   * switching on releases it, and the sweeper fails it at `failsAt` (kept in next_attempt_at while held). `last_reply`
   * says why (queue.list shows it). The UPDATE checks the sender is still off (a locking read on MySQL, serialised
   * with the switch-on's row lock), so one switched on since the lease is given back instead.
   */
  async function holdSwitchedOff(d: Leased, reason: string, failsAt: number): Promise<void> {
    const now = Date.now();
    const moved = await db('deliveries')
      .where({ id: d.id, lease_owner: owner, lease_until: d.lease_until })
      .where((w) => senderSwitchedOff(db, w))
      .update({
        status: 'held',
        held_from: Number(d.attempts) > 0 ? 'deferred' : 'queued',
        held_at: now,
        held_by: SWITCHED_OFF,
        next_attempt_at: failsAt,
        last_reply: `not sent: ${reason}`,
        lease_until: 0,
        updated_at: now,
      });
    if (moved) {
      logger.debug('delivery held: its sender is switched off', { deliveryId: Number(d.id), reason, failsAt });
      return;
    }
    // Switched on since the lease (or the lease lost): back to waiting, after the schedule's first step rather than at
    // once, so that a status this check and the UPDATE's read differently cannot lease it again in a tight loop.
    await backToWaiting(d, now + backoffMs(retry, 1));
  }

  /**
   * A send the throttle refused: back to waiting until `retryAt` (backToWaiting), counted in the throttle's metric.
   */
  async function putBack(d: Leased, retryAt: number, destination: string, reason: string): Promise<void> {
    if (!(await backToWaiting(d, retryAt))) return;
    services.metrics.throttled(destination, reason);
    logger.debug('delivery throttled', { deliveryId: Number(d.id), destination, reason, retryAt });
  }

  return attempt;
}
