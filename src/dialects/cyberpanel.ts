import express, { Request } from 'express';
import type { Params, Services } from '../command';
import type { Dispatcher } from '../dispatch';
import {
  bodyOf,
  Classified,
  DialectRoute,
  dialectRouter,
  FailureWriter,
  HandledRoute,
  isoSeconds,
  mapField,
  messageParams,
  simpleStatus,
  toText,
} from './shared';
import { messageFacts } from './message-facts';

/**
 * CyberPanel's Email REST API (spec/peer-cyberpanel-email-rest-api.txt) under /email/v1: an alias layer over
 * emailgateway.sendemail, getmessage and accountsummary. Credential: `Authorization: Bearer sk_live_…` or
 * `X-API-Key: sk_live_…` (read by the sender door). Replies `{"success":true,"data":{…}}`; failures
 * `{"success":false,"error":{"code","message"}}` with the spec's statuses and codes. docs/dialects-cyberpanel.md.
 */
export const ROUTES: DialectRoute[] = [
  { method: 'post', path: '/email/v1/send', command: 'emailgateway.sendemail', summary: 'Send an email (CyberPanel)' },
  { method: 'get', path: '/email/v1/messages/:message_id', command: 'emailgateway.getmessage', summary: 'Message status and engagement (CyberPanel)' },
  { method: 'get', path: '/email/v1/account/stats', command: 'emailgateway.accountsummary', summary: 'Account plan, limits and this month (CyberPanel)' },
];

const route = (command: string) => ROUTES.find((r) => r.command === command)!;

/** CyberPanel's send body as sendemail parameters; the pipeline validates the values themselves. */
function sendParams(req: Request): Params | Classified {
  const b = bodyOf(req);
  const base = messageParams(b, 'reply_to');
  return 'failure' in base && typeof base.failure === 'string' ? base : { ...base, tags: b.tags, metadata: mapField(b.metadata), headers: mapField(b.headers) };
}

const ok = (status: number, data: unknown) => ({ status, body: { success: true, data } });

const STATUS: Record<string, [number, string]> = {
  unauthorized: [401, 'unauthorized'],
  account_inactive: [403, 'account_inactive'],
  forbidden: [403, 'forbidden'],
  domain_not_found: [403, 'domain_not_found'],
  domain_not_verified: [403, 'domain_not_verified'],
  rate_limited: [429, 'rate_limit_exceeded'],
  quota: [429, 'rate_limit_exceeded'],
  not_found: [404, 'not_found'],
  invalid: [400, 'invalid_request'],
  unavailable: [503, 'service_unavailable'],
  too_large: [413, 'payload_too_large'],
};

/** Seconds to the next UTC midnight: when a daily quota renews, for a quota refusal that does not say when. */
function untilUtcMidnight(now = Date.now()): number {
  const d = new Date(now);
  return Math.max(1, Math.ceil((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now) / 1000));
}

export const writeCyberPanelFailure: FailureWriter = (e, r) => {
  const [status, code] = STATUS[e.failure] ?? [500, r.command === 'emailgateway.sendemail' ? 'send_failed' : 'internal_error'];
  const retry = e.failure === 'quota' ? (e.retryAfterSec ?? untilUtcMidnight()) : e.retryAfterSec;
  const error: Record<string, unknown> = { code, message: e.message };
  if (retry !== undefined && (status === 429 || status === 503)) error.retry_after = retry;
  const headers: Record<string, string> = error.retry_after !== undefined ? { 'Retry-After': String(retry) } : {};
  return { status, body: { success: false, error }, headers };
};

export function cyberpanelApi(services: Services, dispatcher: Dispatcher): express.Router {
  const routes: HandledRoute[] = [
    {
      ...route('emailgateway.sendemail'),
      params: sendParams,
      reply(result, req) {
        const b = bodyOf(req);
        return ok(202, {
          message_id: result.MessageID,
          status: 'sent',
          from: toText(b.from),
          to: toText(b.to),
          subject: b.subject,
          sent_at: isoSeconds(Date.now()),
        });
      },
    },
    {
      ...route('emailgateway.getmessage'),
      params: (req) => ({ messageid: req.params.message_id }),
      notFound: [4],
      reply(m) {
        const f = messageFacts(m);
        return ok(200, {
          message_id: m.MessageID,
          status: simpleStatus(m.Status),
          from: m.From,
          to: toText(f.to),
          subject: m.Subject,
          queued_at: isoSeconds(f.queuedAt),
          sent_at: isoSeconds(f.sentAt),
          delivered_at: isoSeconds(f.deliveredAt),
          opened: f.opens > 0,
          opened_at: isoSeconds(f.firstOpenAt),
          open_count: f.opens,
          clicked: f.clicks > 0,
          click_count: f.clicks,
          tags: m.Tags,
          metadata: m.Metadata,
        });
      },
    },
    {
      ...route('emailgateway.accountsummary'),
      params: () => ({}),
      reply(s) {
        const limits = s.RateLimits as Record<string, number>;
        const month = s.ThisMonth as Record<string, number>;
        return ok(200, {
          plan: String(s.Plan).toLowerCase(),
          status: s.AccountStatus === 'Enabled' ? 'active' : 'inactive',
          // Numbers, as the spec shows them: no monthly limit is 0 in both (Postern's and Octeth's "0 = unlimited").
          monthly_limit: s.MonthlyLimit ?? 0,
          emails_sent_this_month: s.SentThisMonth,
          emails_remaining: s.MonthlyLimit === null ? 0 : s.RemainingThisMonth,
          reputation_score: s.ReputationScore,
          domains_verified: s.DomainsVerified,
          rate_limits: { per_minute: limits.PerMinute, per_hour: limits.PerHour, per_day: limits.PerDay },
          this_month: { total: month.Sent, delivered: month.Delivered, bounced: month.Bounced, opened: month.Opened, clicked: month.Clicked },
        });
      },
    },
  ];
  const router = dialectRouter(services, dispatcher, routes, writeCyberPanelFailure);
  router.use('/email/v1', (req, res) => {
    res.status(404).json({ success: false, error: { code: 'not_found', message: `No route for ${req.method} ${req.baseUrl}${req.path}` } });
  });
  return router;
}
