import express, { Request } from 'express';
import type { Params, Services } from '../command';
import type { Dispatcher } from '../dispatch';
import { CommandError } from '../errors';
import { FillBudget, FillBudgetError, fillPlaceholders, Pairs, TaggedValueError } from '../personalize/placeholders';
import { metadataProblem } from '../mail/send-request';
import {
  bodyOf,
  Classified,
  classify,
  crowdedBatch,
  DialectRoute,
  dialectRouter,
  FailureWriter,
  HandledRoute,
  invalid,
  isoSeconds,
  messageParams,
  simpleStatus,
  batchMessages,
  batchRefusals,
  mapField,
  noValue,
} from './shared';
import { messageFacts } from './message-facts';

/**
 * CloudMails' REST API (spec/peer-cloudmails-api.txt) under /v1: an alias layer over emailgateway.sendemail,
 * sendbatch and getmessage, and webhook.* in the `cloudmails` format (the spec's "dashboard" for webhooks is
 * these routes here). Credential: `Authorization: Bearer sk_live_…`. Failures `{"code","error","message"}` with
 * the spec's statuses: its table's Code and Error columns, and what went wrong. docs/dialects-cloudmails.md.
 */
export const ROUTES: DialectRoute[] = [
  { method: 'post', path: '/v1/send', command: 'emailgateway.sendemail', summary: 'Send an email (CloudMails)' },
  {
    method: 'post',
    path: '/v1/send/batch',
    command: 'emailgateway.sendbatch',
    summary: 'Send up to 1,000 emails, {{placeholders}} from custom_args (CloudMails)',
  },
  { method: 'get', path: '/v1/emails/:message_id', command: 'emailgateway.getmessage', summary: 'Delivery status of an email (CloudMails)' },
  { method: 'post', path: '/v1/webhooks', command: 'webhook.create', summary: 'Add a webhook, active once a test ping gets a 2xx (CloudMails)' },
  { method: 'get', path: '/v1/webhooks', command: 'webhook.list', summary: 'List webhooks (CloudMails)' },
  { method: 'delete', path: '/v1/webhooks/:id', command: 'webhook.delete', summary: 'Remove a webhook (CloudMails)' },
];

export const BATCH_LIMIT = 1000;
const WEBHOOK_EVENTS = ['delivered', 'bounced', 'opened', 'clicked', 'unsubscribed', 'complained'];

/** The spec's error table (Code, Error), plus 404, 413 and 503 which it does not list. */
const STATUS: Record<string, [number, string]> = {
  invalid: [400, 'Invalid Request'],
  unauthorized: [401, 'Unauthorized'],
  account_inactive: [403, 'Forbidden'],
  forbidden: [403, 'Forbidden'],
  domain_not_found: [403, 'Forbidden'],
  domain_not_verified: [403, 'Forbidden'],
  not_found: [404, 'Not Found'],
  rate_limited: [429, 'Rate Limited'],
  quota: [429, 'Rate Limited'],
  unavailable: [503, 'Service Unavailable'],
  too_large: [413, 'Payload Too Large'],
};

function errorBody(e: Classified): { code: number; error: string; message: string } {
  const [code, error] = STATUS[e.failure] ?? [500, 'Server Error'];
  return { code, error, message: e.message };
}

/** `{"code":400,"error":"Invalid Request","message":"…"}`; 429 and 503 carry Retry-After when known. */
export const writeCloudMailsFailure: FailureWriter = (e) => {
  const body = errorBody(e);
  const headers: Record<string, string> =
    e.retryAfterSec !== undefined && (body.code === 429 || body.code === 503) ? { 'Retry-After': String(e.retryAfterSec) } : {};
  return { status: body.code, body, headers };
};

/** CloudMails attachment objects (`content` base64, `filename`, `type`, `disposition`, `content_id`) as the pipeline's. */
function attachmentsOf(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((a) => {
    if (!a || typeof a !== 'object') return a;
    const o = a as Record<string, unknown>;
    return {
      filename: o.filename ?? o.name,
      content: o.content,
      type: o.type ?? o.content_type,
      disposition: o.disposition,
      contentid: o.content_id ?? o.contentId ?? o.cid,
    };
  });
}

/**
 * What a batch's filled subjects and bodies may add up to: twice the largest request Postern reads, room for values
 * longer than their placeholders. Past it, the values are repeated beyond any message a request could carry.
 */
const fillBudget = (maxRequestBytes: number): FillBudget => ({ left: 2 * maxRequestBytes });

/**
 * One CloudMails message as sendemail parameters; a batch's (`budget` given) fills {{placeholders}} from its
 * custom_args, within the batch's budget, and lets from default. The custom_args are checked against the metadata
 * limits first, as the send path would after: a value over 1,000 characters is never copied into a placeholder.
 */
function emailParams(raw: Record<string, unknown>, budget?: FillBudget): Params | Classified {
  const m: Record<string, unknown> = { ...raw, custom_args: mapField(raw.custom_args), headers: mapField(raw.headers) };
  if (m.custom_args !== undefined && m.custom_args !== null && (typeof m.custom_args !== 'object' || Array.isArray(m.custom_args)))
    return invalid('custom_args must be an object');
  const pairs = (m.custom_args ?? {}) as Pairs;
  let filled = m;
  try {
    if (budget) {
      const problem = metadataProblem(m.custom_args);
      if (problem) return invalid(`custom_args: ${problem}`);
      filled = {
        ...m,
        subject: typeof m.subject === 'string' ? fillPlaceholders(m.subject, pairs, 'header', budget) : m.subject,
        html: typeof m.html === 'string' ? fillPlaceholders(m.html, pairs, 'html', budget) : m.html,
        text: typeof m.text === 'string' ? fillPlaceholders(m.text, pairs, 'text', budget) : m.text,
      };
    }
  } catch (e) {
    if (e instanceof TaggedValueError) return invalid(e.message);
    throw e;
  }
  const base = messageParams(filled, 'reply_to', { fromOptional: budget !== undefined });
  if ('failure' in base && typeof base.failure === 'string') return base;
  return { ...base, metadata: m.custom_args ?? undefined, attachments: attachmentsOf(m.attachments), headers: m.headers };
}

const route = (method: DialectRoute['method'], path: string) => ROUTES.find((r) => r.method === method && r.path === path)!;
const isoTime = (t: unknown) => (typeof t === 'string' && t ? `${t.replace(' ', 'T').replace(/\.\d+Z?$|Z$/, '')}Z` : null);

function webhookOut(w: Record<string, any>): Record<string, unknown> {
  return {
    id: String(w.WebhookID),
    url: w.URL,
    events: w.Events,
    active: w.Active,
    disabled_reason: w.DisabledReason ?? null,
    created_at: isoTime(w.CreatedAt),
  };
}

function handled(maxRequestBytes: number): HandledRoute[] {
  return [
    {
      ...route('post', '/v1/send'),
      params: (req) => emailParams(bodyOf(req)),
      reply: (r) => ({ status: 200, body: { message_id: r.MessageID, status: 'sent' } }),
    },
    {
      ...route('post', '/v1/send/batch'),
      params(req) {
        const b = bodyOf(req);
        const messages = b.messages;
        if (!Array.isArray(messages) || !messages.length || messages.length > BATCH_LIMIT)
          return invalid(`messages must be an array of 1 to ${BATCH_LIMIT} messages`);
        const fromDefault = b.from;
        const crowded = crowdedBatch(messages, fromDefault);
        if (crowded) return invalid(crowded);
        const budget = fillBudget(maxRequestBytes);
        try {
          const each = messages.map((m) => {
            if (!m || typeof m !== 'object' || Array.isArray(m)) return invalid('each message must be an object');
            const o = m as Record<string, unknown>;
            return emailParams(noValue(o.from) && fromDefault !== undefined ? { ...o, from: fromDefault } : o, budget);
          });
          return { messages: batchMessages(req, each), defaultfrom: 1 };
        } catch (e) {
          if (!(e instanceof FillBudgetError)) throw e;
          return invalid(
            `the messages' subjects and bodies with their {{placeholders}} filled would pass ${fillBudget(maxRequestBytes).left} characters, ` +
              'twice the largest request accepted: send fewer messages per batch, or fewer placeholders',
          );
        }
      },
      reply(r, req) {
        const refused = batchRefusals(req).refused ?? [];
        const results = (r.Results as Record<string, any>[]).map((x, index) => {
          if (refused[index]) return { index, status: 'failed', error: errorBody(refused[index]!) };
          if (x.MessageID) return { index, message_id: x.MessageID, status: 'sent' };
          const errors = (x.Errors ?? []) as { Code: number; Message: string }[];
          const texts = errors.map((e) => e.Message);
          return {
            index,
            status: 'failed',
            error: errorBody(
              classify(
                new CommandError(
                  errors.map((e) => e.Code),
                  texts,
                ),
                texts,
              ),
            ),
          };
        });
        const accepted = results.filter((x) => x.status === 'sent').length;
        return { status: 200, body: { total: results.length, accepted, rejected: results.length - accepted, results } };
      },
    },
    {
      ...route('get', '/v1/emails/:message_id'),
      params: (req) => ({ messageid: req.params.message_id }),
      notFound: [4],
      reply(m) {
        const f = messageFacts(m);
        const status = simpleStatus(m.Status);
        return {
          status: 200,
          body: {
            message_id: m.MessageID,
            status,
            created_at: isoSeconds(f.queuedAt),
            delivered_at: isoSeconds(f.deliveredAt),
            bounce_reason: status === 'bounced' || status === 'failed' || m.Status === 'partially_delivered' ? f.bounceReason : null,
            opens: f.opens,
            clicks: f.clicks,
          },
        };
      },
    },
    {
      ...route('post', '/v1/webhooks'),
      params(req) {
        const b = bodyOf(req);
        if (b.events !== undefined && (!Array.isArray(b.events) || !b.events.length))
          return invalid(`events must be a non-empty array of ${WEBHOOK_EVENTS.join(', ')}`);
        return { url: b.url, events: b.events ?? WEBHOOK_EVENTS, format: 'cloudmails', ping: 1 };
      },
      reply(r) {
        const ping = r.Ping as { OK: boolean; StatusCode: number | null; Error: string | null } | undefined;
        return {
          status: 200,
          body: { ...webhookOut(r), secret: r.Secret, ping: ping ? { ok: ping.OK, status_code: ping.StatusCode ?? null, error: ping.Error ?? null } : null },
        };
      },
    },
    {
      ...route('get', '/v1/webhooks'),
      params: () => ({ format: 'cloudmails' }),
      reply: (r) => ({ status: 200, body: { webhooks: (r.Webhooks as Record<string, any>[]).map(webhookOut) } }),
    },
    {
      ...route('delete', '/v1/webhooks/:id'),
      params: (req) =>
        // Only this door's own webhooks: another door's (platform, standard) answers 404 as an unknown id does.
        /^\d{1,10}$/.test(String(req.params.id))
          ? { webhookid: Number(req.params.id), format: 'cloudmails' }
          : { failure: 'not_found', message: 'Webhook not found' },
      notFound: [4],
      reply: (_r, req) => ({ status: 200, body: { id: String(req.params.id), deleted: true } }),
    },
  ];
}

/** The CloudMails routes, with the dialect's 404 and its own envelope for a path the router cannot decode. */
export function cloudmailsApi(services: Services, dispatcher: Dispatcher): express.Router {
  const router = dialectRouter(services, dispatcher, handled(services.config.maxRequestBytes), writeCloudMailsFailure);
  router.use('/v1', (req, res) => {
    res.status(404).json({ code: 404, error: 'Not Found', message: `No route for ${req.method} ${req.baseUrl}${req.path}` });
  });
  // Errors raised before a route runs: the router's own 400 for a path parameter that is not valid percent-encoding.
  router.use('/v1', (err: unknown, req: Request, res: express.Response, next: express.NextFunction) => {
    const status = (err as { status?: unknown })?.status;
    if (!(err instanceof URIError) && status !== 400) return next(err);
    res
      .status(400)
      .json({ code: 400, error: 'Invalid Request', message: `The path ${req.method} ${req.baseUrl}${req.path.slice(0, 200)} is not valid percent-encoding` });
  });
  return router;
}
