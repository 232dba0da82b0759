import crypto from 'node:crypto';
import os from 'node:os';
import type { Services } from '../command';
import { decrypt } from '../auth/secrets';
import type { DomainRow } from '../domains/domains';
import { composeHosts } from '../domains/names';
import { classifyReply, retryHintSeconds } from './classify';
import { DELIVERY_QUEUE, DeliveryJob, enqueueDeliveries } from './enqueue';
import { Dkim, SendOutcome, Transports } from './transports';
import { logAttempt } from './attempt-log';
import { CaptureStore } from '../capture/store';
import { verpAddress } from './verp';
import { recordEvents } from '../events/record';
import { whitelisted } from '../suppression/scopes';
import { noteSoftBounce, SOFT_CLASSES } from '../suppression/soft-bounces';
import { Coalescer } from '../coalesce';
import { parseTags } from '../mail/tags';
import { affectedRows, batchTransaction, placeholders, quoteId, runTogether, sql, Stmt } from '../db';
import type { Knex } from 'knex';
import { isOutage } from '../outage';
import { createThrottle, Throttle } from '../throttle/throttle';
import { DkimKeyCache } from './dkim-keys';
import { SendComposer } from './compose-at-send';

const PENDING = ['queued', 'scheduled', 'deferred', 'sending'];

export function verpSecret(services: Services): Buffer {
  return crypto.createHmac('sha256', services.config.encryptionKey!).update('postern-verp').digest();
}

/** A leased delivery as the worker reads it: its row, the MIME to send and the message's tags. */
interface Leased {
  id: number;
  message_id: string;
  user_id: number;
  domain_id: number;
  recipient: string;
  attempts: number;
  created_at: number;
  /** Time spent held by an operator (queue.hold): not counted towards DELIVERY_MAX_AGE_SECONDS. */
  held_ms: number;
  mime: Buffer | null;
  message_mime: Buffer | null;
  /** An API message's stored request (composed here, at delivery); null for raw SMTP-front MIME. */
  content: Buffer | string | null;
  track_id: string | null;
  found_message: string | null;
  tags: string | null;
  lease_until: number;
}

/** One attempt's outcome on its way to the database. */
interface Settlement {
  d: Leased;
  update: Record<string, unknown>;
  type: string;
  data: Record<string, unknown>;
  suppress?: string;
  attempts: number;
  done: number;
}

/**
 * Sets different values on many rows in one UPDATE: `col = CASE id WHEN … THEN … ELSE col END` for each
 * column some row sets, plus the columns every row gets alike.
 */
export function updateByCase(
  db: Knex | Knex.Transaction,
  table: string,
  rows: { id: number; values: Record<string, unknown> }[],
  common: Record<string, unknown>,
  where: Record<string, string | number> = {},
): Stmt {
  // Column and table names come from this module's code, never from input; every value is a bound `?`.
  const q = quoteId;
  const sets: string[] = [];
  const bindings: unknown[] = [];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  for (const c of columns) {
    const having = rows.filter((r) => c in r.values);
    sets.push(`${q(c)} = CASE \`id\` ${having.map(() => 'WHEN ? THEN ?').join(' ')} ELSE ${q(c)} END`);
    for (const r of having) bindings.push(r.id, r.values[c] ?? null);
  }
  for (const [c, v] of Object.entries(common)) {
    sets.push(`${q(c)} = ?`);
    bindings.push(v);
  }
  const conditions = Object.entries(where);
  const text = `UPDATE ${q(table)} SET ${sets.join(', ')} WHERE \`id\` IN ${placeholders(rows.length)}${conditions.map(([c]) => ` AND ${q(c)} = ?`).join('')}`;
  return sql(db, text, [...bindings, ...rows.map((r) => r.id), ...conditions.map(([, v]) => v)]);
}

export interface DeliveryWorker {
  deliver(deliveryId: number): Promise<void>;
  sweep(graceMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Sends deliveries: lease the row (so no two workers send it), DKIM-sign, hand it over with a VERP return
 * path, then record the outcome. A crashed worker's lease expires and the sweeper re-enqueues the row.
 */
export function createDeliveryWorker(services: Services, opts: { throttle?: Throttle } = {}): DeliveryWorker {
  const { db, config, logger } = services;
  const owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  const throttle = opts.throttle ?? createThrottle(services);
  const dkimKeys = new DkimKeyCache();
  const transports = new Transports(
    config,
    dkimKeys,
    services.metrics,
    config.deliveryMode === 'capture' ? new CaptureStore(db, config, logger) : null,
    (domain, mx) => throttle.limitsFor(domain, mx),
  );
  const secret = verpSecret(services);
  const composer = new SendComposer(db, config);
  const keys = new Map<number, { sealed: string; key: string; until: number }>();

  const domains = new Map<number, { row: DomainRow | undefined; until: number }>();
  /** Domain rows change rarely: each worker rereads one at most every DOMAIN_CACHE_MS (10 s by default). */
  async function domainOf(id: number): Promise<DomainRow | undefined> {
    const hit = domains.get(id);
    if (hit && hit.until > Date.now()) return hit.row;
    const row: DomainRow | undefined = await db('sender_domains').where({ id }).first();
    if (config.domainCacheMs > 0) domains.set(id, { row, until: Date.now() + config.domainCacheMs });
    return row;
  }

  function dkimFor(domain: DomainRow): Dkim | null {
    if (!config.dkimSigning) return null;
    // Keyed by the sealed key too: after a DKIM rotation the row's new selector must never sign with the old key.
    let k = keys.get(domain.id);
    if (!k || k.until < Date.now() || k.sealed !== domain.dkim_private_key_enc) {
      k = { sealed: domain.dkim_private_key_enc, key: decrypt(domain.dkim_private_key_enc, config.encryptionKey!), until: Date.now() + 300_000 };
      keys.set(domain.id, k);
    }
    return { domainName: domain.domain, keySelector: domain.dkim_selector, privateKey: k.key };
  }

  /** Each lease flush stamps its rows with its own lease_until, so it reads back exactly the rows it took. */
  let lastUntil = 0;

  /** Leases many deliveries in two statements: one UPDATE takes the due, unleased ones; one SELECT reads them with their MIME. */
  async function leaseGroup(ids: number[]): Promise<(Leased | null)[]> {
    const now = Date.now();
    const until = (lastUntil = Math.max(lastUntil + 1, now + config.leaseSeconds * 1000));
    const unique = [...new Set(ids)];
    // Take the due, unleased rows, then read back exactly the ones this call stamped: one round trip on MySQL.
    const inList = placeholders(unique.length);
    const [, rows] = (await runTogether(db, [
      sql(
        db,
        'update `deliveries` set `status` = ?, `lease_until` = ?, `lease_owner` = ?, `updated_at` = ? ' +
          `where \`id\` in ${inList} and \`status\` in ${placeholders(PENDING.length)} and \`next_attempt_at\` <= ? and (\`lease_until\` is null or \`lease_until\` < ?)`,
        ['sending', until, owner, now, ...unique, ...PENDING, now + 1000, now],
      ),
      // A personalised or tracked copy rides on its delivery row; otherwise the message's MIME is sent.
      sql(
        db,
        'select d.`id`, d.`message_id`, d.`user_id`, d.`domain_id`, d.`recipient`, d.`attempts`, d.`created_at`, d.`held_ms`, d.`mime`, d.`lease_until`, d.`track_id`, ' +
          'CASE WHEN d.`mime` IS NULL THEN m.`mime` END AS `message_mime`, CASE WHEN d.`mime` IS NULL THEN m.`content` END AS `content`, m.`id` AS `found_message`, m.`tags` ' +
          `from \`deliveries\` d left join \`messages\` m on m.\`id\` = d.\`message_id\` where d.\`id\` in ${inList} and d.\`lease_owner\` = ? and d.\`lease_until\` = ?`,
        [...unique, owner, until],
      ),
    ])) as [unknown, Leased[]];
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    // The same delivery asked for twice in one group (a sweeper's job next to the original) is sent once.
    return ids.map((id) => {
      const r = byId.get(id) ?? null;
      byId.delete(id);
      return r;
    });
  }
  const leaser = new Coalescer<number, Leased | null>(leaseGroup, {
    name: 'lease',
    maxItems: 200,
    maxInFlight: 2,
    observe: services.metrics.groupSize('lease'),
  });

  /** Records many outcomes in one transaction: status rows (one UPDATE), events, rollups, webhooks, suppressions. */
  async function settleGroup(items: Settlement[]): Promise<boolean[]> {
    return batchTransaction(db, async (tx) => {
      // The same delivery twice in one group cannot happen while leases hold; keep the first if it ever does.
      const seen = new Set<number>();
      const once = items.filter((i) => !seen.has(Number(i.d.id)) && !!seen.add(Number(i.d.id)));
      const ids = once.map((i) => Number(i.d.id));
      // Our lease can be taken over when it expired mid-send: the other worker records that outcome. The UPDATE
      // only touches rows we still hold; when it touched fewer than asked, read which ones it was.
      const [updated] = await tx.run([
        updateByCase(
          tx.q,
          'deliveries',
          once.map((i) => ({ id: Number(i.d.id), values: { ...i.update, attempts: i.attempts, updated_at: i.done } })),
          { lease_until: null },
          { lease_owner: owner },
        ),
      ]);
      let mine = once;
      if (affectedRows(updated) < once.length) {
        const [held] = (await tx.run([tx.q('deliveries').whereIn('id', ids).where('lease_owner', owner).whereNull('lease_until').select('id')])) as {
          id: number;
        }[][];
        const heldIds = new Set(held.map((r) => Number(r.id)));
        mine = once.filter((i) => heldIds.has(Number(i.d.id)));
      }
      if (!mine.length) return items.map(() => false);
      const tags = new Map<string, string[]>();
      for (const i of mine) tags.set(i.d.message_id, parseTags(i.d.tags));
      await recordEvents(
        tx.q,
        mine.map((i) => ({
          message_id: i.d.message_id,
          delivery_id: Number(i.d.id),
          domain_id: Number(i.d.domain_id),
          user_id: Number(i.d.user_id),
          type: i.type,
          created_at: i.done,
          data: { recipient: i.d.recipient, attempts: i.attempts, seconds: Math.max(0, Math.round((i.done - Number(i.d.created_at)) / 1000)), ...i.data },
        })),
        { tags },
        tx,
      );
      // Hard bounces: the recipient joins the domain's suppression list in the same commit (first reason stays).
      tx.later(
        mine
          .filter((i) => i.suppress)
          .map((i) =>
            tx
              .q('suppressions')
              .insert({
                domain_id: Number(i.d.domain_id),
                email: i.d.recipient.toLowerCase(),
                reason: 'hard_bounce',
                detail: i.suppress!.slice(0, 1000),
                created_at: i.done,
              })
              .onConflict(['domain_id', 'email'])
              .ignore(),
          ),
      );
      const recorded = new Set(mine);
      return items.map((i) => recorded.has(i));
    });
  }
  const settler = new Coalescer<Settlement, boolean>(settleGroup, {
    name: 'settle',
    maxItems: 200,
    maxInFlight: 1,
    observe: services.metrics.groupSize('settle'),
  });

  /**
   * The recipient's server has answered: the outcome must be recorded, or the sweeper would send the message again.
   * While the database is away, keep trying (every second at most, so the record lands as soon as it is back) until
   * the sweeper may take the row over: the lease's end plus its grace (see sweep).
   */
  async function settleDurably(item: Settlement): Promise<boolean> {
    const until = Number(item.d.lease_until) + config.sweepGraceSeconds * 1000;
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return await settler.submit(item);
      } catch (err) {
        if (!isOutage(err) || Date.now() + wait >= until) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  // At most DELIVERY_CONCURRENCY deliveries between lease and settle: a group job's rows are leased only when
  // a slot is free, so a lease never runs out while its row waits behind others.
  let running = 0;
  const slots: (() => void)[] = [];
  async function deliver(deliveryId: number): Promise<void> {
    if (running >= config.deliveryConcurrency) await new Promise<void>((resolve) => slots.push(resolve));
    running += 1;
    try {
      await attempt(deliveryId);
    } finally {
      running -= 1;
      slots.shift()?.();
    }
  }

  async function attempt(deliveryId: number): Promise<void> {
    const d = await leaser.submit(deliveryId);
    if (!d) return;
    const now = Date.now();
    const domain = await domainOf(Number(d.domain_id));
    const attempts = Number(d.attempts) + 1;
    const log = (outcome: 'delivered' | 'deferred' | 'bounced' | 'failed', reply: string, nextRetryAt?: number) =>
      logAttempt(logger, { messageId: d.message_id, deliveryId: Number(d.id), recipient: d.recipient, attempt: attempts, outcome, reply, nextRetryAt });
    if (!d.found_message || !domain) {
      await db('deliveries')
        .where({ id: deliveryId, lease_owner: owner })
        .update({ status: 'failed', lease_until: null, finished_at: now, last_reply: 'message or domain no longer exists', updated_at: now });
      log('failed', 'message or domain no longer exists');
      return;
    }
    const from = verpAddress(secret, Number(d.id), composeHosts(domain, config).mfromHost);
    let raw: Buffer;
    if (d.content) {
      try {
        raw = await composer.bytesFor({ ...d, content: d.content }, domain);
      } catch (err) {
        // The database away (tracked links not written) is retried by the sweeper; content that cannot be composed never will be.
        if (isOutage(err)) throw err;
        const reply = `message cannot be composed: ${(err as Error).message}`;
        await db('deliveries')
          .where({ id: deliveryId, lease_owner: owner })
          .update({ status: 'failed', lease_until: null, finished_at: now, last_reply: reply, updated_at: now });
        log('failed', reply);
        return;
      }
    } else {
      const body = d.mime ?? d.message_mime;
      raw = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '');
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
    let outcome: SendOutcome;
    try {
      outcome = keyError ? { ok: false, response: keyError } : await transports.send({ from, to: d.recipient }, raw, dkim, meta);
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
      await settle({ status: 'delivered', last_reply: outcome.response, finished_at: done, bounce_class: null }, 'delivered', { smtp_reply: outcome.response });
      log('delivered', outcome.response);
      return;
    }
    const verdict = classifyReply(outcome.code, outcome.response);
    const tooOld = done - Number(d.created_at) - Number(d.held_ms ?? 0) >= config.deliveryMaxAgeSeconds * 1000;
    if (verdict.permanent || tooOld) {
      const status = verdict.permanent ? 'bounced' : 'failed';
      // The classifier says whether this refusal blames the address; the account's whitelist can overrule it.
      const suppress = verdict.suppress && !(await whitelisted(db, Number(d.user_id), d.recipient)) ? outcome.response : undefined;
      await settle(
        { status, last_reply: outcome.response, bounce_class: verdict.class, finished_at: done },
        status,
        { smtp_reply: outcome.response, bounce_class: verdict.class },
        suppress,
      );
      log(status, outcome.response);
      return;
    }
    const schedule = config.retryScheduleSeconds;
    const planned = schedule[Math.min(attempts - 1, schedule.length - 1)];
    const wait = Math.min(Math.max(planned, retryHintSeconds(outcome.response) ?? 0), 8 * 3600) * 1000;
    const next = done + wait;
    const recorded = await settle({ status: 'deferred', next_attempt_at: next, last_reply: outcome.response, bounce_class: verdict.class }, 'deferred', {
      smtp_reply: outcome.response,
      bounce_class: verdict.class,
      next_attempt_at: Math.floor(next / 1000),
    });
    log('deferred', outcome.response, next);
    if (recorded) {
      await enqueueDeliveries(services, [{ id: Number(d.id), attempts, runAt: next }]).catch((err) =>
        logger.warn('retry could not be enqueued; the sweeper will pick it up', { deliveryId: d.id, error: (err as Error).message }),
      );
    }
    // A message's first soft refusal counts once towards SOFT_BOUNCE_LIMIT (its retries do not).
    if (recorded && attempts === 1 && SOFT_CLASSES.has(verdict.class)) await noteSoftBounce(services, d, outcome.response);
  }

  /**
   * A send the throttle refused: back to waiting (deferred after an attempt, else queued) until `retryAt`, with no
   * attempt counted, no event and a fresh job (the running one's id must not swallow it).
   */
  async function putBack(d: Leased, retryAt: number, destination: string, reason: string): Promise<void> {
    const now = Date.now();
    const attempts = Number(d.attempts);
    const moved = await db('deliveries')
      .where({ id: d.id, lease_owner: owner, status: 'sending' })
      .update({ status: attempts > 0 ? 'deferred' : 'queued', next_attempt_at: retryAt, lease_until: null, updated_at: now });
    if (!moved) return;
    services.metrics.throttled(destination, reason);
    logger.debug('delivery throttled', { deliveryId: Number(d.id), destination, reason, retryAt });
    await enqueueDeliveries(services, [{ id: Number(d.id), attempts, runAt: retryAt, retake: retryAt }]).catch((err) =>
      logger.warn('throttled delivery could not be enqueued; the sweeper will pick it up', { deliveryId: d.id, error: (err as Error).message }),
    );
  }

  /**
   * Re-enqueues work that is due (by `graceMs`) but unleased: its job was lost (queue restart) or its worker died.
   * An expired lease waits the same grace: its worker may still be recording the outcome of a send it made while
   * the database was away (settleDurably).
   */
  async function sweep(graceMs = config.sweepGraceSeconds * 1000): Promise<number> {
    const now = Date.now();
    const rows = await db('deliveries')
      .whereIn('status', PENDING)
      .where('next_attempt_at', '<=', now - graceMs)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now - graceMs))
      .orderBy('next_attempt_at')
      .limit(5000)
      .select('id', 'attempts', 'next_attempt_at', 'lease_until');
    await enqueueDeliveries(
      services,
      rows.map((r: { id: number; attempts: number; next_attempt_at: number; lease_until: number | null }) => ({
        id: Number(r.id),
        attempts: Number(r.attempts),
        runAt: now,
        // A retry's own job id (d<id>-a<n>) may be held by a delayed job that no longer matches the row: queue control
        // in another process (the CLI on an embedded install) moved its time. Naming the job after the row's due time
        // gets it a job anyway; repeated sweeps reuse that id, so a row waits on two jobs at most (its lease decides).
        retake: r.lease_until !== null ? Number(r.lease_until) : Number(r.attempts) > 0 ? Number(r.next_attempt_at) : undefined,
      })),
    );
    return rows.length;
  }

  const queue = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  queue.process(
    async (job) => {
      const ids = job.data.deliveryIds ?? (job.data.deliveryId === undefined ? [] : [job.data.deliveryId]);
      await Promise.all(
        ids.map((id) =>
          deliver(id).catch((err) => {
            // Never fail the job (a failed job id would block re-adding it); the lease expires and the sweeper retries.
            if (isOutage(err))
              logger.warn('delivery attempt stopped: database unavailable', { deliveryId: id, error: (err as { code?: string }).code ?? (err as Error).name });
            else logger.error('delivery attempt crashed', { deliveryId: id, error: (err as Error).stack });
          }),
        ),
      );
    },
    { concurrency: config.deliveryConcurrency },
  );
  let sweeping = false;
  const runSweep = () => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .then((n) => n && logger.info('sweeper re-enqueued deliveries', { count: n }))
      .catch((err) => logger.warn('sweep failed', { error: (err as Error).message }))
      .finally(() => (sweeping = false));
  };
  const timer = setInterval(runSweep, config.sweepIntervalSeconds * 1000);
  timer.unref();
  // At start, take over whatever was pending (an in-process queue starts empty); likewise when Redis comes back
  // (it may have lost its jobs, and what was accepted meanwhile was never enqueued). A few tries: the queue's
  // own connection may be ready a moment after this one.
  let sweepRetry: NodeJS.Timeout | undefined;
  const sweepAll = (what: string, triesLeft: number) => {
    clearTimeout(sweepRetry);
    if (sweeping) {
      sweepRetry = setTimeout(() => sweepAll(what, triesLeft), 500);
      return;
    }
    sweeping = true;
    sweep(0)
      .then((n) => n && logger.info(`${what} sweep re-enqueued deliveries`, { count: n }))
      .catch((err) => {
        logger.warn(`${what} sweep failed`, { error: (err as Error).message });
        if (triesLeft > 1) sweepRetry = setTimeout(() => sweepAll(what, triesLeft - 1), 1000);
      })
      .finally(() => (sweeping = false));
  };
  setImmediate(() => sweepAll('startup', 1));
  let redisLost = false;
  services.redis?.on('close', () => (redisLost = true));
  services.redis?.on('ready', () => {
    if (!redisLost) return;
    redisLost = false;
    sweepAll('reconnect', 5);
  });

  return {
    deliver,
    sweep,
    async stop() {
      clearInterval(timer);
      clearTimeout(sweepRetry);
      transports.close();
    },
  };
}
