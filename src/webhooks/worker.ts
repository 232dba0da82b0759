import os from 'node:os';
import type { Knex } from 'knex';
import type { Services } from '../command';
import { leaseOwner } from '../lease-owner';
import { backoffMs } from '../retry/backoff';
import { ATTEMPT_LOG_KEEP, OUTBOX_RETENTION_MS, RETRY_CAP_MS, WebhookSettings } from './settings';
import { isWebhookFormat, signatureHeaders } from './formats';
import { postWebhook, USER_AGENT } from './http-post';
import { DueRow, dueRows, OutboxRow } from './due-rows';
import { secretOf } from './signing';
import { resolverFor, vetWebhookUrl } from './url-guard';
import { logFailedCall, shownError } from './shown-error';
import { callFailureLog } from './failure-log';
import { isOutage } from '../outage';
import { recordByDeadline } from '../retry/record-by-deadline';

export interface WebhookWorker {
  /** Stops polling and waits for the calls in flight. */
  stop(): Promise<void>;
  /** Sends every due outbox row and waits for those calls (and any started meanwhile); resolves to how many were attempted. */
  runOnce(): Promise<number>;
}

interface Outcome {
  status: number | null;
  /** Why no HTTP answer came, for the server log: the tenant is shown shownError's outcome only. */
  error: string | null;
  refused: boolean;
  durationMs: number;
  /** Shown as it is: a fault of this gateway's own (a secret it cannot decrypt), nothing learnt from the network. */
  shown?: string;
}

const BATCH = 100;
/** Outbox rows one prune statement deletes: their ids are bound parameters, and SQLite allows 500 per statement. */
const PRUNE_CHUNK = 500;

/** Wait before retry `attempts` (1 = first retry): base·2^(n-1), at most RETRY_CAP_MS, ±25 % so a burst of failures spreads out. */
export function retryDelayMs(attempts: number, baseMs: number): number {
  return backoffMs({ baseMs, capMs: RETRY_CAP_MS, jitter: 0.25 }, attempts);
}

/**
 * Sends queued webhook calls. A row is leased with a conditional UPDATE (lease_until/lease_owner), so two
 * workers never send the same row; the lease outlives the request timeout, and a crashed worker's rows are
 * picked up again once it expires. Each call is signed in its subscription's format (src/webhooks/formats.ts).
 */
export function startWebhookWorker(services: Services, opts: { hostname?: string; failureLogIntervalMs?: number } = {}): WebhookWorker {
  const { db, logger, config } = services;
  const owner = leaseOwner(opts.hostname ?? os.hostname(), process.pid, 'wh');
  const resolve = resolverFor(config);
  const failures = callFailureLog(logger, opts.failureLogIntervalMs);
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let lastPrune = 0;

  /** Appends to the attempt log inside the caller's transaction, so the log never lags the webhook's state. */
  async function record(q: Knex, row: OutboxRow, attempt: number, result: string, o: Partial<Outcome>, at: number): Promise<void> {
    await q('webhook_attempts').insert({
      webhook_id: row.webhook_id,
      delivery_id: row.id,
      event_id: row.event_id,
      event_type: row.event_type,
      attempt,
      result,
      status_code: o.status ?? null,
      duration_ms: Math.max(0, Math.round(o.durationMs ?? 0)),
      error: o.error ? o.error.slice(0, 1000) : null,
      at,
    });
    const cutoff = await q('webhook_attempts').where({ webhook_id: row.webhook_id }).orderBy('id', 'desc').offset(ATTEMPT_LOG_KEEP).first('id');
    if (cutoff) await q('webhook_attempts').where({ webhook_id: row.webhook_id }).where('id', '<=', cutoff.id).delete();
  }

  /**
   * A call's outcome, recorded whatever fails: tried again (every 2 s at most) until its lease is about to end, then
   * written on the outbox row alone (`rowOnly`: no attempt log line, no webhook counters), with an error logged.
   * Thrown, the row stayed leased, and each lease's end sent the call again, for as long as the failure lasted.
   */
  async function settleDurably<T>(row: OutboxRow, until: number, record: () => Promise<T>, rowOnly: () => Promise<T>): Promise<T> {
    const deliveryId = Number(row.id);
    return recordByDeadline({
      until,
      maxWaitMs: 2000,
      record,
      rowOnly,
      onFailure: (err) => logger.warn('webhook call outcome not recorded; retrying', { deliveryId, error: err.message }),
      onRowOnly: (err) => logger.error('webhook call recorded without its log line', { deliveryId, error: err.message }),
    });
  }

  async function attempt(row: OutboxRow, s: WebhookSettings): Promise<void> {
    const hook = await db('webhooks').where({ id: row.webhook_id }).first('id', 'domain_id', 'url', 'status', 'format', 'secret_enc');
    const started = Date.now();
    if (!hook || hook.status !== 'Enabled') {
      // Deleted (its rows normally cascade) or disabled: the queued call is dropped, not sent later.
      await db('webhook_deliveries')
        .where({ id: row.id, lease_owner: owner })
        .update({ status: 'failed', lease_until: null, last_error: 'webhook disabled', next_attempt_at: started, updated_at: started });
      return;
    }
    const n = Number(row.attempts) + 1;
    let outcome: Outcome;
    const vetted = await vetWebhookUrl(hook.url, { allowPrivate: s.allowPrivate, resolve });
    if (!vetted.ok) {
      const why = vetted.problem.detail ?? vetted.problem.message;
      outcome = { status: null, error: `refused: ${why}`, refused: true, durationMs: Date.now() - started };
    } else {
      // A secret that cannot be decrypted (another ENCRYPTION_KEY, a damaged row) fails the call like any other
      // failure, with its backoff and its end; thrown, it left the row leased and tried again every lease for ever.
      const secret = await secretOf(db, config, hook).catch((err) => (isOutage(err) ? Promise.reject(err) : null));
      if (secret === null) {
        const shown = 'signing failed: the webhook secret cannot be decrypted; check ENCRYPTION_KEY';
        outcome = { status: null, error: shown, refused: true, durationMs: 0, shown };
      } else {
        const format = isWebhookFormat(hook.format) ? hook.format : 'standard';
        const ts = Math.floor(Date.now() / 1000);
        const headers = { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...signatureHeaders(format, secret, row.event_id, row.payload, ts) };
        const r = await postWebhook(vetted.url, vetted.addresses[0], headers, row.payload, s.timeoutMs);
        outcome = { ...r, refused: false, durationMs: Date.now() - started };
      }
    }
    // The outcome must be recorded before the lease ends, or another pass sends the call again (settleDurably).
    const until = started + s.timeoutMs + s.leaseGraceMs - 1000;
    const done = Date.now();
    const ok = outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
    if (ok) {
      const delivered = {
        status: 'delivered',
        attempts: n,
        lease_until: null,
        last_status_code: outcome.status,
        last_error: null,
        next_attempt_at: done,
        updated_at: done,
      };
      const n1 = await settleDurably(
        row,
        until,
        () =>
          db.transaction(async (trx) => {
            // Both settle paths lock the webhook row first, so two lanes settling calls of one webhook never deadlock.
            await trx('webhooks').where({ id: hook.id }).forUpdate().first('id');
            const n1 = await trx('webhook_deliveries').where({ id: row.id, lease_owner: owner }).update(delivered);
            if (n1) {
              await trx('webhooks').where({ id: hook.id }).update({ consecutive_failures: 0, last_success_at: done, updated_at: done });
              await record(trx, row, n, 'delivered', outcome, done);
            }
            return n1;
          }),
        () => db('webhook_deliveries').where({ id: row.id, lease_owner: owner }).update(delivered),
      );
      if (n1) services.metrics.webhook('delivered');
      return;
    }
    // What the attempt log, the outbox row and a disable's reason say; the connection error goes to the log.
    const error = outcome.shown ?? shownError(outcome);
    if (outcome.status === null && !outcome.shown) {
      const fields = { webhookId: Number(hook.id), deliveryId: Number(row.id), attempt: n, reason: outcome.error };
      // A call refused at its address (a name rebound to an internal one) is a probe's trace: each is logged, unthrottled.
      if (outcome.refused) logFailedCall(logger, 'webhook call failed', hook.url, fields);
      else failures.failed(hook.url, fields);
    }
    const result = outcome.refused ? 'refused' : 'failed';
    // One transaction: a reader sees the failure count, a disable and their attempt-log lines together or not at all.
    // The webhook's count (and a possible disable) goes first: once the row is released, the next attempt sees it.
    const expired = done - Number(row.created_at) >= s.maxAgeMs;
    const next = Math.min(done + retryDelayMs(n, s.retryBaseMs), Number(row.created_at) + s.maxAgeMs);
    const failedRow = expired
      ? {
          status: 'failed',
          attempts: n,
          lease_until: null,
          last_status_code: outcome.status,
          last_error: error.slice(0, 1000),
          next_attempt_at: done,
          updated_at: done,
        }
      : { attempts: n, lease_until: null, last_status_code: outcome.status, last_error: error.slice(0, 1000), next_attempt_at: next, updated_at: done };
    const { disabledNow, n1 } = await settleDurably(
      row,
      until,
      () =>
        db.transaction(async (trx) => {
          await trx('webhooks')
            .where({ id: hook.id })
            .update({ consecutive_failures: trx.raw('consecutive_failures + 1'), last_failure_at: done, updated_at: done });
          const disabledNow = await trx('webhooks')
            .where({ id: hook.id, status: 'Enabled' })
            .where('consecutive_failures', '>=', s.maxFailures)
            .update({
              status: 'Disabled',
              disabled_at: done,
              disabled_reason: `${s.maxFailures} consecutive failed attempts; last: ${error}`.slice(0, 255),
              updated_at: done,
            });
          const n1 = await trx('webhook_deliveries').where({ id: row.id, lease_owner: owner }).update(failedRow);
          if (n1) await record(trx, row, n, result, { ...outcome, error }, done);
          if (disabledNow) await record(trx, row, n, 'disabled', { error: `webhook disabled after ${s.maxFailures} consecutive failed attempts` }, done);
          return { disabledNow, n1 };
        }),
      async () => ({ disabledNow: 0, n1: await db('webhook_deliveries').where({ id: row.id, lease_owner: owner }).update(failedRow) }),
    );
    if (n1) services.metrics.webhook(result);
    if (disabledNow) {
      services.metrics.webhook('disabled');
      logFailedCall(logger, 'webhook.disabled', hook.url, {
        webhookId: Number(hook.id),
        domainId: Number(hook.domain_id),
        failures: s.maxFailures,
        lastError: outcome.error ?? error,
      });
    }
  }

  /**
   * Leases one row; false when another worker took it, or it is no longer due. The clock is read here, not once per
   * pass: a lane reaches a row only after its earlier calls, and a lease counted from the pass's start could run
   * out while the call is still being made, letting another worker send the row again.
   */
  async function lease(row: DueRow, s: WebhookSettings): Promise<boolean> {
    const now = Date.now();
    // Its attempts as read too: a row read into the buffer, given up by another worker and queued again by
    // retrywebhookcalls (attempts 0, its age from then) must be read again, not sent with the stale count and age.
    const n = await db('webhook_deliveries')
      .where({ id: Number(row.id), status: 'pending', attempts: Number(row.attempts) })
      .where('next_attempt_at', '<=', now)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .update({ lease_until: now + s.timeoutMs + s.leaseGraceMs, lease_owner: owner, updated_at: now });
    return n > 0;
  }

  /**
   * Deletes finished rows past retention, hourly: all of them, a chunk at a time (a single capped delete per run
   * let the table grow without end above that rate). Between chunks the event loop gets a turn: on the embedded
   * store each statement is synchronous SQLite work, and a loop of only those would stall every request.
   */
  async function prune(now: number): Promise<void> {
    if (now - lastPrune < 3_600_000) return;
    lastPrune = now;
    for (const status of ['delivered', 'failed']) {
      for (;;) {
        const old = await db('webhook_deliveries')
          .where({ status })
          .where('next_attempt_at', '<', now - OUTBOX_RETENTION_MS)
          .limit(PRUNE_CHUNK)
          .pluck('id');
        // The conditions again: a row retrywebhookcalls queued again since the read is no longer old, nor finished.
        if (old.length)
          await db('webhook_deliveries')
            .whereIn('id', old)
            .where({ status })
            .where('next_attempt_at', '<', now - OUTBOX_RETENTION_MS)
            .delete();
        if (old.length < PRUNE_CHUNK || stopped) break;
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  /** Calls in flight, in all and per account (webhooks.user_id); attempts started, for runOnce's count. */
  let active = 0;
  const perAccount = new Map<number, number>();
  const calls = new Set<Promise<void>>();
  let attempted = 0;
  /** Due rows read and not yet started, oldest first; read again when none of them can start. */
  let buffer: DueRow[] = [];
  let bufferAt = 0;
  let filling: Promise<void> | null = null;
  let again = false;

  function start(row: DueRow, s: WebhookSettings): void {
    const account = Number(row.user_id);
    active += 1;
    attempted += 1;
    perAccount.set(account, (perAccount.get(account) ?? 0) + 1);
    const call: Promise<void> = attempt(row, s)
      // The lease expires and the row is tried again.
      .catch((err) => void logger.error('webhook attempt crashed', { deliveryId: Number(row.id), error: (err as Error).stack }))
      .finally(() => {
        active -= 1;
        const left = (perAccount.get(account) ?? 1) - 1;
        if (left) perAccount.set(account, left);
        else perAccount.delete(account);
        calls.delete(call);
        // A freed slot is filled at once, not at the next poll (a failure there waits for the poll: never unhandled,
        // which would end the process).
        if (!stopped) fill().catch((err) => logger.warn('webhook poll failed', { error: (err as Error).message }));
      });
    calls.add(call);
  }

  /**
   * Starts due rows in the free slots (WEBHOOK_CONCURRENCY), oldest first, but fairly: first the rows of accounts
   * with fewer than half the slots in flight, then, with slots still free, anyone's, leaving one slot to whoever
   * comes next. Calls run on without a pass to end: a pass used to end with its slowest call, so one account's
   * backlog at a receiver answering in 10 s held every lane, and every other account's calls waited behind it.
   */
  async function fillOnce(): Promise<void> {
    const s = config.webhooks;
    const share = Math.max(1, Math.ceil(s.concurrency / 2));
    const most = Math.max(1, s.concurrency - 1);
    let queried = false;
    let tried = false;
    while (!stopped && active < s.concurrency) {
      if (tried || !buffer.length || Date.now() - bufferAt > s.pollMs) {
        if (queried) return; // read fresh this time already: nothing more can start
        buffer = await dueRows(db, s.concurrency, BATCH);
        bufferAt = Date.now();
        queried = true;
      }
      tried = true;
      for (const cap of [share, most]) {
        for (let i = 0; i < buffer.length && !stopped && active < s.concurrency;) {
          const row = buffer[i];
          if ((perAccount.get(Number(row.user_id)) ?? 0) >= cap) {
            i += 1;
            continue;
          }
          buffer.splice(i, 1);
          if (await lease(row, s)) start(row, s);
        }
      }
    }
  }

  /** One fill at a time; a call ending meanwhile asks for another after it. */
  function fill(): Promise<void> {
    if (filling) {
      again = true;
      return filling;
    }
    filling = (async () => {
      do {
        again = false;
        await fillOnce();
      } while (again && !stopped);
    })().finally(() => (filling = null));
    return filling;
  }

  /** Sends every due row, waits for every call (and those started as slots free), then prunes; resolves to how many were attempted. */
  async function runOnce(): Promise<number> {
    const before = attempted;
    buffer = [];
    await fill();
    while (calls.size || filling) await Promise.allSettled([...calls, filling]);
    await prune(Date.now()).catch((err) => logger.warn('webhook outbox prune failed', { error: (err as Error).message }));
    return attempted - before;
  }

  const tick = () => {
    if (stopped) return;
    fill()
      .then(() => prune(Date.now()))
      .catch((err) => logger.warn('webhook poll failed', { error: (err as Error).message }))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, config.webhooks.pollMs);
      });
  };
  timer = setTimeout(tick, 0);

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      while (calls.size || filling) await Promise.allSettled([...calls, filling]);
    },
  };
}
