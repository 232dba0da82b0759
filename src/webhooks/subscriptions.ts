import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { CommandContext } from '../command';
import { CommandError, PERMISSION_DENIED } from '../errors';
import { open, seal } from '../auth/secrets';
import { formatTime, lockUserRow } from '../auth/users';
import type { DomainScope } from '../auth/account-keys';
import { findOwnedDomain } from '../domains/domains';
import { DOMAIN_DELETING_TEXT, domainUnderAccountLock } from '../domains/deleting';
import { assertWebhookRoom } from './webhooks';
import { formatEventName, formatEventNames, newSubscriptionSecret, pingPayload, signatureHeaders, storedFromFormat, WebhookFormat } from './formats';
import { postWebhook, USER_AGENT } from './http-post';
import { resolverFor, vetWebhookUrl } from './url-guard';
import { logRefusedUrl, shownError } from './shown-error';
import { deleteWebhooksIn } from './purge';
import { DOMAIN_WEBHOOK_EVENTS, domainEventName, storedEventName } from '../events/vocabulary';

/**
 * Webhook subscriptions made with an API key (webhook.create and the dialects on top of it): one row per
 * subscription, with its URL, its events, its format and its own `whsec_…` secret, for one domain or (an
 * unrestricted account key) every domain of the account. Octeth's addwebhook rows (no secret of their own)
 * are not subscriptions and stay with src/webhooks/webhooks.ts.
 */
export interface SubscriptionInput {
  url: string;
  /** Event names in the format's vocabulary (standard also takes Octeth's private names). */
  events: string[];
  format: WebhookFormat;
  /** Call the URL with a test event first; the subscription is active only if it answers 2xx. */
  ping: boolean;
}

const GONE_TEXT = 'This API key is restricted to a sender domain that no longer exists';

/** The codes of a failing input, per door. */
export interface SubscriptionCodes {
  malformed: number;
  scheme: number;
  host: number;
  events: number;
  /** The subscription's domain is gone (an account key restricted to a domain deleted since). */
  domain: number;
  /** The account has MAX_WEBHOOKS_PER_ACCOUNT already. */
  limit: number;
  /** The subscription's domain is being deleted (src/domains/deleting.ts). */
  deleting: number;
}

interface Row {
  id: number;
  domain_id: number | null;
  event: string;
  url: string;
  format: WebhookFormat;
  status: string;
  disabled_reason: string | null;
  created_at: number;
}

/** Where a new subscription applies: the sender key's domain, an account key's only domain, or (unrestricted) the whole account. */
export function subscriptionDomain(ctx: CommandContext): number | null {
  if (ctx.domain) return Number(ctx.domain.id);
  const ids = ctx.accountKey?.domainIds ?? null;
  if (ids === null) return null;
  if (ids.length === 1) return ids[0];
  throw new CommandError(
    PERMISSION_DENIED,
    'This API key is restricted to several domains: subscribe with a key restricted to one domain, or an unrestricted one',
  );
}

/** Subscriptions the scope can see: its domains' (and, unrestricted, the account-wide ones). */
function inScope(q: Knex.QueryBuilder, scope: DomainScope): Knex.QueryBuilder {
  q.where('user_id', scope.userId).whereNotNull('secret_enc');
  if (scope.domainIds !== null) q.whereIn('domain_id', scope.domainIds);
  return q;
}

export function presentSubscription(r: Row): Record<string, unknown> {
  return {
    WebhookID: Number(r.id),
    URL: r.url,
    Events: r.event.split(',').map((e) => formatEventName(r.format, e)),
    Format: r.format,
    DomainID: r.domain_id === null ? null : Number(r.domain_id),
    Status: r.status,
    Active: r.status === 'Enabled',
    DisabledReason: r.disabled_reason,
    CreatedAt: formatTime(r.created_at),
  };
}

function storedEvents(format: WebhookFormat, names: string[], code: number): string[] {
  // Message events in the format's vocabulary; domain events (domain.dns_failed, …) by the same name in every format.
  const stored = names.map((n) => storedFromFormat(format, n) ?? (format === 'standard' ? storedEventName(n) : null) ?? domainEventName(n));
  const known = [...formatEventNames('standard'), ...DOMAIN_WEBHOOK_EVENTS];
  if (!names.length || stored.some((s) => s === null || known.indexOf(s) < 0)) {
    throw new CommandError(code, `Invalid events: use one or more of ${[...formatEventNames(format), ...DOMAIN_WEBHOOK_EVENTS].join(', ')}`);
  }
  return [...new Set(stored as string[])];
}

/**
 * Sends the test event and records it in the webhook's log; true on a 2xx answer. A webhook deleted while the call
 * was out (with its domain: the ping holds no lock a deletion waits on) gets no log; the caller finds it gone.
 */
async function ping(
  ctx: CommandContext,
  id: number,
  format: WebhookFormat,
  secret: string,
  url: string,
): Promise<{ ok: boolean; statusCode: number | null; error: string | null }> {
  const started = Date.now();
  const eventId = `evt_${crypto.randomUUID().replace(/-/g, '')}`;
  // Vetted again: the name may resolve elsewhere now than when the subscription was checked (DNS rebinding).
  const vetted = await vetWebhookUrl(url, { allowPrivate: ctx.config.webhooks.allowPrivate, resolve: resolverFor(ctx.config) });
  let r: { status: number | null; error: string | null };
  if (!vetted.ok) r = { status: null, error: `refused: ${vetted.problem.detail ?? vetted.problem.message}` };
  else {
    const body = pingPayload(format, eventId, started);
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...signatureHeaders(format, { kind: 'subscription', secret }, eventId, body, Math.floor(started / 1000)),
    };
    r = await postWebhook(vetted.url, vetted.addresses[0], headers, body, Math.min(ctx.config.webhooks.timeoutMs, 10_000));
  }
  const ok = r.status !== null && r.status >= 200 && r.status < 300;
  // An HTTP answer's status is the tenant's own endpoint's (and in status_code already); anything short of one is generic.
  const error = ok ? null : shownError({ status: r.status, refused: !vetted.ok });
  // Throttled per webhook: a failing ping can be asked for again and again.
  if (!ok) ctx.pingFailures.failed(url, { webhookId: id, status: r.status, reason: r.error });
  const logged = ctx.db('webhook_attempts').insert({
    webhook_id: id,
    delivery_id: null,
    event_id: eventId,
    event_type: 'ping',
    attempt: 1,
    result: ok ? 'delivered' : 'failed',
    status_code: r.status,
    duration_ms: Date.now() - started,
    error: error?.slice(0, 1000) ?? null,
    at: Date.now(),
  });
  try {
    await logged;
  } catch (err) {
    // Its foreign key failed: the webhook was deleted meanwhile, and there is nothing to log the ping for.
    if (await ctx.db('webhooks').where({ id }).first('id')) throw err;
  }
  return { ok, statusCode: r.status, error };
}

/**
 * Creates a subscription, or updates the one the scope already has for the same format and URL (new events,
 * enabled again). With `ping`, the URL is called with a test event first: a new subscription is stored disabled
 * and enabled only on a 2xx; an existing one keeps its events and status while the ping runs, and takes the new
 * ones only on a 2xx (a receiver that is down for a moment must not stop a live subscription's events).
 * Answers the subscription with its secret.
 */
export async function createSubscription(ctx: CommandContext, domainId: number | null, input: SubscriptionInput, codes: SubscriptionCodes) {
  // A key's allowed domains are ids kept on the key: one deleted since is refused here, and under the lock below.
  if (domainId !== null && !(await findOwnedDomain(ctx.db, ctx.user!.id, domainId))) {
    throw new CommandError(codes.domain, GONE_TEXT);
  }
  const events = storedEvents(input.format, input.events, codes.events);
  const vetted = await vetWebhookUrl(input.url, { allowPrivate: ctx.config.webhooks.allowPrivate, resolve: resolverFor(ctx.config) });
  if (!vetted.ok) {
    logRefusedUrl(ctx.logger, input.url, vetted.problem, { userId: ctx.user!.id, domainId });
    // Too long once normalised: the same parameter error (a list of codes) as the schema's for too long as sent.
    const code = codes[vetted.problem.kind];
    throw vetted.problem.tooLong ? new CommandError([code], [vetted.problem.message]) : new CommandError(code, vetted.problem.message);
  }
  const url = vetted.url.toString();
  const userId = ctx.user!.id;
  const now = Date.now();
  // What an update of an existing subscription writes: at once without a ping, after a 2xx with one.
  const changes = (at: number, list: string[]) => ({
    event: list.join(','),
    status: 'Enabled',
    disabled_reason: null,
    disabled_at: null,
    consecutive_failures: 0,
    updated_at: at,
  });
  // Under the account's row lock: the same URL twice at once is one subscription, and the cap holds (an update of
  // the scope's existing subscription takes no room).
  const { id, secret, inserted, list } = await ctx.db.transaction(async (trx) => {
    await lockUserRow(trx, userId);
    // No subscription made or changed for a domain being deleted: its webhooks go with it.
    const state = domainId === null ? 'live' : await domainUnderAccountLock(trx, domainId);
    if (state === 'gone') throw new CommandError(codes.domain, GONE_TEXT);
    if (state === 'deleting') throw new CommandError(codes.deleting, DOMAIN_DELETING_TEXT);
    const same = await trx('webhooks')
      .where({ user_id: userId, domain_id: domainId, format: input.format, url })
      .whereNotNull('secret_enc')
      .first('id', 'secret_enc', 'event');
    if (same) {
      // The platform's POST /webhooks "creates": a second one for the same URL (a setup script that registers one
      // endpoint per event group) adds its events to the subscription instead of replacing the first one's.
      const list = input.format === 'platform' ? [...new Set([...String(same.event ?? '').split(','), ...events])].filter(Boolean) : events;
      if (!input.ping) await trx('webhooks').where({ id: same.id }).update(changes(now, list));
      return { id: Number(same.id), secret: open(same.secret_enc, ctx.config), inserted: false, list };
    }
    await assertWebhookRoom(trx, userId, codes.limit);
    const secret = newSubscriptionSecret();
    const pending = input.ping ? 'waiting for the test ping' : null;
    const row = {
      user_id: userId,
      domain_id: domainId,
      event: events.join(','),
      url,
      format: input.format,
      secret_enc: seal(secret, ctx.config),
      status: input.ping ? 'Disabled' : 'Enabled',
      disabled_reason: pending,
      disabled_at: pending ? now : null,
      consecutive_failures: 0,
      created_at: now,
      updated_at: now,
    };
    const [id] = (await trx('webhooks').insert(row)).map(Number);
    return { id, secret, inserted: true, list: events };
  });
  let pinged: { ok: boolean; statusCode: number | null; error: string | null } | undefined;
  if (input.ping) {
    pinged = await ping(ctx, id, input.format, secret, url);
    const done = Date.now();
    const hook = ctx.db('webhooks').where({ id });
    // The ping took a network round trip outside the account's lock: a deletion of its domain may have begun since.
    const live = () =>
      ctx
        .db('webhooks')
        .where({ id })
        .whereNotExists((q) =>
          q.select(1).from('sender_domains').whereRaw('`sender_domains`.`id` = `webhooks`.`domain_id`').whereNotNull('sender_domains.deleting_at'),
        );
    if (!pinged.ok) {
      // An existing subscription stays exactly as it was (the ping is in its attempt log). A new one says why it is
      // disabled, unless a concurrent create of the same URL has enabled it meanwhile.
      if (inserted)
        await hook
          .whereNot('status', 'Enabled')
          .update({ disabled_reason: `test ping failed: ${pinged.error}`.slice(0, 255), last_failure_at: done, updated_at: done });
    } else if (inserted) {
      // Its events as inserted: a concurrent create that found the row applies its own after its own ping.
      await live().update({ status: 'Enabled', disabled_reason: null, disabled_at: null, last_success_at: done, updated_at: done });
    } else {
      await live().update({ ...changes(done, list), last_success_at: done });
    }
  }
  const row: Row | undefined = await ctx.db('webhooks').where({ id }).first();
  // Deleted since the transaction committed (with its domain, by a deletion run meanwhile, during the ping or after
  // it): the answer for a key whose domain is gone, nothing left behind.
  if (!row) throw new CommandError(codes.domain, domainId === null ? 'The subscription was deleted while it was being created' : GONE_TEXT);
  return { ...presentSubscription(row), Secret: secret, ...(pinged ? { Ping: { OK: pinged.ok, StatusCode: pinged.statusCode, Error: pinged.error } } : {}) };
}

export async function listSubscriptions(ctx: CommandContext, scope: DomainScope, format?: WebhookFormat) {
  const q = inScope(ctx.db('webhooks'), scope);
  if (format) q.where({ format });
  const rows: Row[] = await q.orderBy('id');
  return rows.map(presentSubscription);
}

/**
 * Deletes one subscription in scope (of `format` when given) with its queued calls and log (a run at a time:
 * purge.ts); false when there is none.
 */
export async function deleteSubscription(ctx: CommandContext, scope: DomainScope, id: number, format?: WebhookFormat): Promise<boolean> {
  const q = inScope(ctx.db('webhooks'), scope).where({ id });
  if (format) q.where({ format });
  return (await deleteWebhooksIn(ctx.db, ctx.config.deleteChunkRows, q)) > 0;
}
