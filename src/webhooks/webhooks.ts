import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import { formatTime, lockUserRow } from '../auth/users';
import type { Db } from '../db';
import { DOMAIN_WEBHOOK_EVENTS, domainEventName, legacyEventName, storedEventName, WEBHOOK_EVENTS } from '../events/vocabulary';
import { MAX_WEBHOOKS_PER_ACCOUNT } from './settings';
import { deleteWebhooksIn } from './purge';
import { DOMAIN_DELETING_TEXT, domainUnderAccountLock } from '../domains/deleting';
import { listedSigningKey, signingKey, standardSecret } from './signing';
import { resolverFor, UrlProblem, vetWebhookUrl } from './url-guard';
import { logRefusedUrl } from './shown-error';

/**
 * Shared bodies of the private (DomainID, Octeth's private event names) and public (sender key, stored names)
 * webhook commands. Their rows are signed with the domain's key (secret_enc null); subscriptions with their own
 * secret (src/webhooks/subscriptions.ts) are not listed or changed here.
 */
export type Vocabulary = 'legacy' | 'stored';

export interface WebhookRow {
  id: number;
  user_id: number;
  domain_id: number;
  event: string;
  url: string;
  status: string;
  consecutive_failures: number;
  disabled_reason: string | null;
  disabled_at: number | null;
  last_success_at: number | null;
  last_failure_at: number | null;
  created_at: number;
  updated_at: number;
}

export function presentWebhook(row: WebhookRow, vocabulary: Vocabulary): Record<string, unknown> {
  return {
    WebhookID: Number(row.id),
    Event: vocabulary === 'legacy' ? legacyEventName(row.event) : row.event,
    WebhookURL: row.url,
    Status: row.status,
    ConsecutiveFailures: Number(row.consecutive_failures),
    DisabledReason: row.disabled_reason,
    DisabledAt: formatTime(row.disabled_at),
    LastSuccessAt: formatTime(row.last_success_at),
    LastFailureAt: formatTime(row.last_failure_at),
    CreatedAt: formatTime(row.created_at),
  };
}

/** Codes of a failing Event or WebhookURL, per door (the private and public tables differ on a malformed URL). */
export interface AddCodes {
  event: number | number[];
  malformed: number;
  scheme: number;
  host: number;
  /** The account has MAX_WEBHOOKS_PER_ACCOUNT already. */
  limit: number;
  /** The domain is being deleted (src/domains/deleting.ts). */
  deleting: number;
  /** The domain was deleted since the door found it. */
  gone: number;
}

/**
 * Refuses a new webhook past MAX_WEBHOOKS_PER_ACCOUNT. Call it inside the transaction that inserts, after
 * lockUserRow, so two creates at once cannot both see room for one.
 */
export async function assertWebhookRoom(trx: Db, userId: number, code: number): Promise<void> {
  const [{ n }] = await trx('webhooks').where({ user_id: userId }).count({ n: '*' });
  if (Number(n) >= MAX_WEBHOOKS_PER_ACCOUNT) {
    throw new CommandError(code, `At most ${MAX_WEBHOOKS_PER_ACCOUNT} webhooks per account: delete one before adding another`);
  }
}

/**
 * Octeth's addwebhook answers URL errors with `ErrorMessage` beside the code; ErrorText stays for our clients. A URL
 * too long once normalised answers as the schema answers one too long as sent (a parameter error: codes as a list).
 */
function urlError(code: number, problem: UrlProblem): CommandError {
  if (problem.tooLong) return new CommandError([code], [problem.message]);
  const err = new CommandError(code, problem.message);
  err.extra = { ErrorMessage: problem.message };
  return err;
}

/**
 * Registers a webhook for one event of a domain. Either event vocabulary is accepted. The URL must pass the
 * SSRF guard now (and again before every call). The same (event, URL) twice answers the existing webhook's
 * id and re-enables it if it was disabled, so re-adding is how a disabled webhook comes back.
 */
export async function addWebhook(ctx: CommandContext, domain: { id: number; user_id: number }, p: Params, codes: AddCodes): Promise<{ NewWebhookID: number }> {
  const stored = storedEventName(String(p.event));
  const event = stored && WEBHOOK_EVENTS.includes(stored) ? stored : domainEventName(String(p.event));
  if (!event) {
    const names = [...WEBHOOK_EVENTS.map((e) => `${legacyEventName(e)}/${e}`), ...DOMAIN_WEBHOOK_EVENTS].join(', ');
    throw new CommandError(codes.event, `Invalid event type: use one of ${names}`);
  }
  const vetted = await vetWebhookUrl(String(p.webhookurl), { allowPrivate: ctx.config.webhooks.allowPrivate, resolve: resolverFor(ctx.config) });
  if (!vetted.ok) {
    logRefusedUrl(ctx.logger, String(p.webhookurl), vetted.problem, { userId: domain.user_id, domainId: domain.id });
    throw urlError(codes[vetted.problem.kind], vetted.problem);
  }
  const url = vetted.url.toString();
  // Under the account's row lock: the same (event, URL) twice at once is one webhook, and the cap holds.
  return ctx.db.transaction(async (trx) => {
    await lockUserRow(trx, domain.user_id);
    // Neither a new webhook nor a disabled one enabled again for a domain being deleted: its webhooks go with it.
    const state = await domainUnderAccountLock(trx, domain.id);
    if (state === 'gone') throw new CommandError(codes.gone);
    if (state === 'deleting') throw new CommandError(codes.deleting, DOMAIN_DELETING_TEXT);
    // The signing key exists before the first call needs it; made after the mark check, so none for a domain being deleted.
    await signingKey(trx, ctx.config, domain.id);
    const now = Date.now();
    const same = await trx('webhooks').where({ domain_id: domain.id, event, url }).whereNull('secret_enc').first('id', 'status');
    if (same) {
      if (same.status !== 'Enabled') {
        await trx('webhooks')
          .where({ id: same.id })
          .update({ status: 'Enabled', consecutive_failures: 0, disabled_reason: null, disabled_at: null, updated_at: now });
        ctx.logger.info('webhook.enabled', { webhookId: Number(same.id), domainId: domain.id });
      }
      return { NewWebhookID: Number(same.id) };
    }
    await assertWebhookRoom(trx, domain.user_id, codes.limit);
    const [id] = await trx('webhooks').insert({
      user_id: domain.user_id,
      domain_id: domain.id,
      event,
      url,
      status: 'Enabled',
      consecutive_failures: 0,
      created_at: now,
      updated_at: now,
    });
    return { NewWebhookID: Number(id) };
  });
}

/** The domain's webhooks. */
export async function listWebhooks(ctx: CommandContext, domainId: number, vocabulary: Vocabulary) {
  const rows: WebhookRow[] = await ctx.db('webhooks').where({ domain_id: domainId }).whereNull('secret_enc').orderBy('id');
  return { Webhooks: rows.map((r) => presentWebhook(r, vocabulary)) };
}

/**
 * The domain's webhooks and its signing key (created on first use), for the account's own session or user key only:
 * a sender key's listing leaves the key out (as Octeth's public GET does), so a leaked send key cannot forge calls.
 * A domain being deleted gets no first key (listedSigningKey): SigningKey and SigningSecret are null then.
 */
export async function listWebhooksWithKey(ctx: CommandContext, domain: { id: number; user_id: number }, vocabulary: Vocabulary) {
  const key = await listedSigningKey(ctx.db, ctx.config, domain);
  return { SigningKey: key, SigningSecret: key === null ? null : standardSecret(key), ...(await listWebhooks(ctx, domain.id, vocabulary)) };
}

/** Deletes one webhook of the domain with its queued calls and log (a run at a time: src/webhooks/purge.ts); `notFound` is the door's code. */
export async function deleteWebhook(ctx: CommandContext, domainId: number, webhookId: unknown, notFound: number): Promise<Record<string, never>> {
  const id = Number(webhookId);
  const deleted = await deleteWebhooksIn(ctx.db, ctx.config.deleteChunkRows, ctx.db('webhooks').where({ id, domain_id: domainId }).whereNull('secret_enc'));
  if (!deleted) throw new CommandError(notFound);
  return {};
}

/** The webhook's recent attempts, newest first, with its state and how many calls wait in its queue. */
export async function webhookLog(ctx: CommandContext, domainId: number, p: Params, notFound: number, vocabulary: Vocabulary) {
  const hook: WebhookRow | undefined = await ctx
    .db('webhooks')
    .where({ id: Number(p.webhookid), domain_id: domainId })
    .whereNull('secret_enc')
    .first();
  if (!hook) throw new CommandError(notFound);
  const [attempts, [{ n }]] = await Promise.all([
    ctx
      .db('webhook_attempts')
      .where({ webhook_id: hook.id })
      .orderBy('id', 'desc')
      .limit(Number(p.retrievecount ?? 50)),
    ctx.db('webhook_deliveries').where({ webhook_id: hook.id, status: 'pending' }).count({ n: '*' }),
  ]);
  return {
    Webhook: presentWebhook(hook, vocabulary),
    Pending: Number(n),
    Attempts: attempts.map((a: Record<string, unknown>) => ({
      AttemptID: Number(a.id),
      At: formatTime(a.at as number),
      EventID: a.event_id,
      Event: a.event_type === null ? null : vocabulary === 'legacy' ? legacyEventName(String(a.event_type)) : a.event_type,
      Attempt: Number(a.attempt),
      Result: a.result,
      StatusCode: a.status_code === null ? null : Number(a.status_code),
      DurationMs: Number(a.duration_ms),
      Error: a.error,
    })),
  };
}
