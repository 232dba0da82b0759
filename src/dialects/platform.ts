import express, { Request } from 'express';
import type { Params, Services } from '../command';
import type { Dispatcher } from '../dispatch';
import { isAccountKey, presentedKey } from '../auth/account-keys';
import { ACCOUNT_KEY_PREFIX } from '../credentials/credentials';
import {
  batchMessages,
  batchRefusals,
  crowdedBatch,
  bodyOf,
  Classified,
  DialectRoute,
  dialectRouter,
  FailureWriter,
  HandledRoute,
  invalid,
  messageParams,
  toText,
  mapField,
} from './shared';
import { messageFacts } from './message-facts';
import { pruned } from '../http/pruned-router';

/**
 * The platform API (spec/peer-platform-api-v1.txt) under /api/v1: an alias layer over the same commands as every
 * door, with `Authorization: Bearer sk_live_…`. Replies are the spec's camelCase objects; failures
 * `{"error":"<message>","code":"<code>"}` with a fitting status (the spec shows none). docs/dialects-platform.md.
 */
export const ROUTES: DialectRoute[] = [
  { method: 'post', path: '/api/v1/emails', command: 'emailgateway.sendemail', summary: 'Send a transactional email (platform)' },
  { method: 'post', path: '/api/v1/emails/batch', command: 'emailgateway.sendbatch', summary: 'Send up to 100 emails (platform)' },
  { method: 'get', path: '/api/v1/emails', command: 'emailgateway.getmessages', summary: 'Email log with pagination (platform; account key)' },
  { method: 'get', path: '/api/v1/emails/:id', command: 'emailgateway.getmessage', summary: 'One email with its events (platform)' },
  { method: 'get', path: '/api/v1/domains', command: 'emailgateway.getdomains', summary: 'Sender domains (platform)' },
  { method: 'post', path: '/api/v1/domains/:id/verify', command: 'emailgateway.verifydomain', summary: 'Verify a domain now (platform)' },
  { method: 'post', path: '/api/v1/webhooks', command: 'webhook.create', summary: 'Create a webhook endpoint (platform; account key)' },
  { method: 'get', path: '/api/v1/webhooks', command: 'webhook.list', summary: 'List webhooks (platform; account key)' },
  { method: 'post', path: '/api/v1/campaigns', command: 'campaign.create', summary: 'Create a campaign (platform)' },
  { method: 'get', path: '/api/v1/campaigns', command: 'campaigns.get', summary: 'List campaigns with progress (platform)' },
  { method: 'get', path: '/api/v1/campaigns/:id', command: 'campaign.get', summary: 'One campaign with progress (platform)' },
  { method: 'post', path: '/api/v1/campaigns/:id/launch', command: 'campaign.launch', summary: 'Launch a campaign (platform)' },
  { method: 'post', path: '/api/v1/campaigns/:id/cancel', command: 'campaign.cancel', summary: 'Cancel a campaign (platform)' },
  { method: 'get', path: '/api/v1/stats', command: 'account.overview', summary: 'Account statistics (platform; account key)' },
  { method: 'post', path: '/api/v1/contacts', command: 'contacts.create', summary: 'Create a contact (platform; account key)' },
  { method: 'get', path: '/api/v1/contacts', command: 'contacts.list', summary: 'List contacts (platform; account key)' },
];

/**
 * Paths Octeth's v1 API has too. The kind of key decides the dialect: an account key (`sk_live_…`, clean or mangled:
 * platformCredential) gets the platform's shapes, anything else (a sender key `eg_live_…`, none) Octeth's. The README's
 * key-kind table shows this one.
 */
export const SHARED_PATHS: { method: DialectRoute['method']; path: string; octeth: string; platform: string }[] = [
  { method: 'get', path: '/api/v1/emails', octeth: 'emailgateway.getmessages', platform: 'emailgateway.getmessages' },
  { method: 'post', path: '/api/v1/webhooks', octeth: 'emailgateway.addwebhook.public', platform: 'webhook.create' },
  { method: 'get', path: '/api/v1/webhooks', octeth: 'emailgateway.getwebhooks.public', platform: 'webhook.list' },
  { method: 'get', path: '/api/v1/stats', octeth: 'emailgateway.accountstats.public', platform: 'account.overview' },
  // The same commands: a user key or session gets Octeth's envelope and numbers, an account key the platform's.
  { method: 'post', path: '/api/v1/contacts', octeth: 'contacts.create', platform: 'contacts.create' },
  { method: 'get', path: '/api/v1/contacts', octeth: 'contacts.list', platform: 'contacts.list' },
];

type Headers = Record<string, string | string[] | undefined>;

/**
 * Whose client sent a request, from its credential headers: `account` when they present an account key as
 * authentication reads one; `mangled` when nothing usable is presented but an account key shows in the text the
 * headers hold (`Bearer sk_live_… extra`, no scheme, quoted): only a platform (or other dialect) client holds one,
 * Octeth's keys and sessions never contain it. Anything else (no key, an empty or wrong Bearer, a sender key) is
 * what an Octeth client sends too, and stays Octeth's to answer.
 */
export function platformCredential(headers: Headers): 'account' | 'mangled' | null {
  const h = headers as Record<string, string | undefined>;
  const presented = presentedKey(h);
  if (isAccountKey(presented)) return 'account';
  const shown = presented || `${String(h.authorization ?? '')} ${String(h['x-api-key'] ?? '')}`;
  return shown.includes(ACCOUNT_KEY_PREFIX) ? 'mangled' : null;
}

const MANGLED: Classified = { failure: 'unauthorized', message: 'Send the account key as "Authorization: Bearer sk_live_…", nothing else in the header' };

const MISSING: Classified = { failure: 'unauthorized', message: 'Missing API key: send "Authorization: Bearer sk_live_…"' };
/** What authentication says of an account key it does not know (src/auth/account-keys.ts). */
const INVALID_KEY = 'Invalid API key';
/** The platform's own 401 texts; any other (Octeth's user and sender wordings) is said as INVALID_KEY. */
const OWN_401 = new Set([MANGLED.message, MISSING.message, INVALID_KEY]);

/**
 * A route that refuses a mangled account key, or none at all, before reading its fields: its command would find no
 * key in the headers, and say so in Octeth's words. (A shared path comes here only with an account key.)
 */
const refusingMangled = (r: HandledRoute): HandledRoute => ({
  ...r,
  refusesCredential(req) {
    const kind = platformCredential(req.headers);
    if (kind === 'mangled') return MANGLED;
    return kind === null && presentedKey(req.headers as Record<string, string | undefined>) === '' ? MISSING : null;
  },
});

const isShared = (r: DialectRoute) => SHARED_PATHS.some((s) => s.method === r.method && s.path === r.path);

/** Postern's delivery statuses as the platform names them: accepted and not yet answered is `sent`. */
const STATUS_OUT: Record<string, string> = {
  queued: 'sent',
  scheduled: 'scheduled',
  sending: 'sent',
  deferred: 'sent',
  held: 'sent',
  delivered: 'delivered',
  partially_delivered: 'delivered',
  bounced: 'bounced',
  failed: 'failed',
  cancelled: 'cancelled',
  // Not sent: its recipient was suppressed after the accept (send-attempt.ts).
  suppressed: 'failed',
};
/** The message statuses (MessageStatus: over all recipients, as the log shows them) each platform word lists. */
const STATUS_IN: Record<string, string> = {
  sent: 'queued,sending,deferred,held',
  queued: 'queued,sending,deferred,held',
  scheduled: 'scheduled',
  delivered: 'delivered,partially_delivered',
  bounced: 'bounced',
  failed: 'failed,suppressed',
  cancelled: 'cancelled',
};
/** Events every recipient of an email records once, at its acceptance: the email's events list each once. */
const ACCEPTANCE = new Set(['queued', 'scheduled']);
const DOMAIN_STATUS: Record<string, string> = { Enabled: 'verified', 'Approval Pending': 'pending', Disabled: 'disabled', Suspended: 'suspended' };

/** The spec's `tags` is an object: its pairs become metadata, and `key:value` tags for the statistics. */
function tagsAndMetadata(tags: unknown): { tags?: string[]; metadata?: unknown } | Classified {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags)) return invalid('tags must be an object of string values');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.some(([, v]) => typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) return invalid('tags values must be strings');
  return { tags: entries.map(([k, v]) => `${k}:${String(v)}`), metadata: Object.fromEntries(entries) };
}

/** One email of the spec's shape as sendemail parameters; the pipeline validates the values themselves. */
function emailParams(b: Record<string, unknown>): Params | Classified {
  const base = messageParams(b, b.replyTo !== undefined ? 'replyTo' : 'reply_to');
  if ('failure' in base && typeof base.failure === 'string') return base;
  const tm = tagsAndMetadata(mapField(b.tags));
  if ('failure' in tm) return tm as Classified;
  return { ...base, headers: mapField(b.headers), ...tm };
}

/**
 * The first field of the body that is neither absent nor text (`ids` may also be numbers), refused by name: the
 * commands' schemas turn a number or true into text and read an object as "too long" or "not found".
 */
function notText(b: Record<string, unknown>, text: string[], ids: string[] = []): Classified | null {
  const bad = [...text, ...ids].find((k) => b[k] !== undefined && b[k] !== null && typeof b[k] !== 'string' && !(ids.includes(k) && typeof b[k] === 'number'));
  return bad ? invalid(`${bad} must be ${ids.includes(bad) ? 'a string or a number' : 'a string'}`) : null;
}

/** A contact with the platform's string ids. */
function contactOut(c: Record<string, any>): Record<string, unknown> {
  return { ...c, id: String(c.id), listId: String(c.listId) };
}

function campaignOut(c: Record<string, any>): Record<string, unknown> {
  const p = c.Progress ?? {};
  return {
    id: String(c.CampaignID),
    name: c.CampaignName,
    subject: c.Subject,
    listId: c.ListID === null ? null : String(c.ListID),
    status: c.Status,
    recipients: p.Recipients,
    queued: p.Queued,
    skipped: p.Skipped,
    sent: p.Sent,
    cancelled: p.Cancelled,
    delivered: p.Delivered,
    bounced: p.Bounced,
    opened: p.Opened,
    clicked: p.Clicked,
    createdAt: c.CreatedAt ? `${String(c.CreatedAt).replace(' ', 'T')}Z` : null,
    launchedAt: c.LaunchedAt ? `${String(c.LaunchedAt).replace(' ', 'T')}Z` : null,
    completedAt: c.CompletedAt ? `${String(c.CompletedAt).replace(' ', 'T')}Z` : null,
  };
}

const STATUS: Record<string, [number, string]> = {
  unauthorized: [401, 'unauthorized'],
  account_inactive: [403, 'account_inactive'],
  forbidden: [403, 'forbidden'],
  domain_not_found: [400, 'domain_not_found'],
  domain_not_verified: [400, 'domain_not_verified'],
  rate_limited: [429, 'rate_limit_exceeded'],
  quota: [429, 'quota_exceeded'],
  not_found: [404, 'not_found'],
  invalid: [400, 'invalid_request'],
  too_large: [413, 'payload_too_large'],
  conflict: [409, 'idempotency_conflict'],
  unavailable: [503, 'service_unavailable'],
};

/**
 * `{"error":"…","code":"…"}`; 409, 429 and 503 carry Retry-After when known (409: the same Idempotency-Key still in
 * progress; 503: the database or queue is down). A 401 is in the platform's words (OWN_401).
 */
export const writePlatformFailure = (e: Classified): ReturnType<FailureWriter> => {
  const [status, code] = STATUS[e.failure] ?? [500, 'internal_error'];
  const headers: Record<string, string> =
    e.retryAfterSec !== undefined && (status === 409 || status === 429 || status === 503) ? { 'Retry-After': String(e.retryAfterSec) } : {};
  const error = e.failure === 'unauthorized' && !OWN_401.has(e.message) ? INVALID_KEY : e.message;
  return { status, body: { error, code }, headers };
};

const route = (method: DialectRoute['method'], path: string) => ROUTES.find((r) => r.method === method && r.path === path)!;
const id = (req: Request) => req.params.id;
const q = (req: Request, k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string) : undefined);

function handled(): HandledRoute[] {
  return [
    {
      ...route('post', '/api/v1/emails'),
      idempotent: true,
      params: (req) => emailParams(bodyOf(req)),
      reply: (r) => ({ status: 200, body: { id: r.MessageID, status: 'sent', messageId: r.MessageID } }),
    },
    {
      ...route('post', '/api/v1/emails/batch'),
      idempotent: true,
      params(req) {
        const emails = bodyOf(req).emails;
        if (!Array.isArray(emails) || !emails.length || emails.length > 100) return invalid('emails must be an array of 1 to 100 emails');
        const crowded = crowdedBatch(emails);
        if (crowded) return invalid(crowded);
        // Each email on its own, as the spec's per-email results and counts say: one refused here fails alone.
        const each = emails.map((e) =>
          e && typeof e === 'object' && !Array.isArray(e) ? emailParams(e as Record<string, unknown>) : invalid('each email must be an object'),
        );
        return { messages: batchMessages(req, each) };
      },
      reply(r, req) {
        const emails = bodyOf(req).emails as unknown[];
        const refused = batchRefusals(req).refused ?? [];
        const results = (r.Results as Record<string, any>[]).map((x, i) => {
          const e = emails[i];
          const to = e && typeof e === 'object' ? toText((e as Record<string, unknown>).to ?? null) : null;
          if (refused[i]) return { to, id: null, status: 'failed', error: refused[i]!.message };
          if (x.MessageID) return { to, id: x.MessageID, status: 'sent' };
          return { to, id: null, status: 'failed', error: (x.Errors ?? []).map((err: { Message: string }) => err.Message).join('; ') };
        });
        const sent = results.filter((x) => x.status === 'sent').length;
        return { status: 200, body: { results, total: results.length, sent, failed: results.length - sent } };
      },
    },
    {
      ...route('get', '/api/v1/emails'),
      params(req) {
        const status = q(req, 'status');
        if (status !== undefined && !STATUS_IN[status]) return invalid(`status must be one of ${Object.keys(STATUS_IN).join(', ')}`);
        return { limit: q(req, 'limit') ?? 20, page: q(req, 'page') ?? 1, ...(status ? { messagestatus: STATUS_IN[status] } : {}), withengagement: 1 };
      },
      reply(r) {
        const emails = (r.Emails as Record<string, any>[]).map((m) => ({
          id: m.MessageID,
          to: toText(m.To),
          from: m.From,
          subject: m.Subject,
          status: STATUS_OUT[m.Status] ?? m.Status,
          opens: m.Opens,
          clicks: m.Clicks,
          createdAt: m.CreatedAt,
        }));
        return { status: 200, body: { emails, total: r.Total, page: r.Page, pages: r.Pages } };
      },
    },
    {
      ...route('get', '/api/v1/emails/:id'),
      params: (req) => ({ messageid: id(req) }),
      notFound: [4],
      reply(m) {
        const f = messageFacts(m);
        const recipients = (m.Recipients ?? []) as { Events?: { Event: string; LoggedAt: number }[] }[];
        // The acceptance (queued, shown as `sent`, or scheduled) is the email's, one event; every recipient records it.
        const accepted = new Set<string>();
        const events = recipients
          .flatMap((x) => x.Events ?? [])
          .sort((a, b) => a.LoggedAt - b.LoggedAt)
          .filter((e) => {
            if (!ACCEPTANCE.has(e.Event)) return true;
            if (accepted.has(e.Event)) return false;
            accepted.add(e.Event);
            return true;
          })
          .map((e) => ({ type: e.Event === 'queued' ? 'sent' : e.Event, createdAt: new Date(e.LoggedAt * 1000).toISOString() }));
        const email = {
          id: m.MessageID,
          to: toText(f.to),
          from: m.From,
          subject: m.Subject,
          status: STATUS_OUT[String(m.Status)] ?? m.Status,
          opens: f.opens,
          clicks: f.clicks,
          createdAt: m.CreatedAt,
        };
        return { status: 200, body: { email, events } };
      },
    },
    {
      ...route('get', '/api/v1/domains'),
      params: () => ({}),
      // "List verified domains" (the spec): the ones the account can send from; verify answers any of them by id.
      reply: (r) => ({
        status: 200,
        body: {
          domains: (r.Domains as Record<string, any>[])
            .filter((d) => DOMAIN_STATUS[d.Status] === 'verified')
            .map((d) => ({ id: String(d.DomainID), domain: d.SenderDomain, status: 'verified' })),
        },
      }),
    },
    {
      ...route('post', '/api/v1/domains/:id/verify'),
      params: (req) => ({ domainid: id(req) }),
      notFound: [1, 2],
      reply: (r) => ({
        status: 200,
        body: { status: DOMAIN_STATUS[(r.Domain as any).Status] ?? (r.Domain as any).Status, domain: (r.Domain as any).SenderDomain },
      }),
    },
    {
      ...route('post', '/api/v1/webhooks'),
      params(req) {
        const b = bodyOf(req);
        if (!Array.isArray(b.events) || !b.events.length) return invalid('events must be a non-empty array such as ["email.sent"]');
        return { url: b.url, events: b.events, format: 'platform' };
      },
      reply: (r) => ({ status: 200, body: { id: String(r.WebhookID), url: r.URL, secret: r.Secret, events: r.Events } }),
    },
    {
      ...route('get', '/api/v1/webhooks'),
      params: () => ({ format: 'platform' }),
      reply: (r) => ({
        status: 200,
        body: { webhooks: (r.Webhooks as Record<string, any>[]).map((w) => ({ id: String(w.WebhookID), url: w.URL, events: w.Events, isActive: w.Active })) },
      }),
    },
    {
      ...route('post', '/api/v1/campaigns'),
      params(req) {
        const b = bodyOf(req);
        const wrong = notText(b, ['name', 'subject', 'content', 'text', 'from', 'fromName'], ['listId']);
        if (wrong) return wrong;
        return {
          campaignname: b.name,
          subject: b.subject,
          listid: b.listId,
          htmlcontent: b.content,
          plaincontent: b.text,
          fromemail: b.from,
          fromname: b.fromName,
        };
      },
      // The name as stored: the command trims it (and refuses it empty).
      reply: (r, req) => ({ status: 200, body: { id: String(r.CampaignID), name: String(bodyOf(req).name).trim(), status: 'draft' } }),
    },
    {
      ...route('get', '/api/v1/campaigns'),
      params: (req) => ({
        recordsperrequest: q(req, 'limit') ?? 25,
        recordsfrom: (Number(q(req, 'page') ?? 1) - 1) * Number(q(req, 'limit') ?? 25),
        ...(q(req, 'status') ? { campaignstatus: q(req, 'status') } : {}),
      }),
      reply: (r) => ({ status: 200, body: { campaigns: (r.Campaigns as Record<string, any>[]).map(campaignOut), total: r.TotalCampaigns } }),
    },
    {
      ...route('get', '/api/v1/campaigns/:id'),
      params: (req) => ({ campaignid: id(req) }),
      notFound: [1, 2],
      reply: (r) => ({ status: 200, body: campaignOut(r.Campaign as Record<string, any>) }),
    },
    {
      ...route('post', '/api/v1/campaigns/:id/launch'),
      params: (req) => ({ campaignid: id(req) }),
      notFound: [1, 2],
      reply: () => ({ status: 200, body: { success: true, status: 'sending' } }),
    },
    {
      ...route('post', '/api/v1/campaigns/:id/cancel'),
      params: (req) => ({ campaignid: id(req) }),
      notFound: [1, 2],
      reply: () => ({ status: 200, body: { success: true, status: 'cancelled' } }),
    },
    {
      ...route('post', '/api/v1/contacts'),
      params(req) {
        const b = bodyOf(req);
        return notText(b, ['email', 'name', 'status'], ['listId']) ?? { email: b.email, name: b.name, listid: b.listId, status: b.status };
      },
      notFound: [4],
      reply: (r) => ({ status: 200, body: contactOut(r) }),
    },
    {
      ...route('get', '/api/v1/contacts'),
      params(req) {
        // An empty filter is refused, not read as "every list": a client whose list id went missing is told so,
        // instead of being shown every list's contacts as the one list's.
        if (q(req, 'listId')?.trim() === '') return invalid('listId must be a list id: leave it out to list the contacts of every list');
        return {
          ...(q(req, 'listId') !== undefined ? { listid: q(req, 'listId') } : {}),
          ...(q(req, 'status') !== undefined ? { status: q(req, 'status') } : {}),
          limit: q(req, 'limit') ?? 50,
          page: q(req, 'page') ?? 1,
        };
      },
      notFound: [4],
      reply: (r) => ({ status: 200, body: { contacts: (r.contacts as Record<string, any>[]).map(contactOut), total: r.total, page: r.page } }),
    },
    {
      ...route('get', '/api/v1/stats'),
      params: () => ({}),
      reply(r) {
        const c = r.Campaigns as Record<string, number>;
        return {
          status: 200,
          body: {
            contacts: r.Contacts,
            campaigns: { total: c.Total, sending: c.Sending, completed: c.Completed },
            emailsThisMonth: r.EmailsThisMonth,
            domains: r.Domains,
          },
        };
      },
    },
  ];
}

/** Mounted before Octeth's v1 door: shared paths go to the platform only with an account key, clean or mangled. */
export function platformApi(services: Services, dispatcher: Dispatcher): express.RequestHandler {
  const all = handled().map(refusingMangled);
  const shared = pruned(dialectRouter(services, dispatcher, all.filter(isShared), writePlatformFailure));
  const own = pruned(
    dialectRouter(
      services,
      dispatcher,
      all.filter((r) => !isShared(r)),
      writePlatformFailure,
    ),
  );
  // A plain handler, not a router of two: a router that matches nothing leaves through a setImmediate.
  return (req, res, next) => {
    // The router's 400 for a platform path whose :id is not valid percent-encoding, in the platform's shape.
    const fail = (err?: unknown) => {
      if (!(err instanceof URIError)) return next(err);
      const { status, body } = writePlatformFailure(invalid(`The path ${req.path.slice(0, 200)} is not valid percent-encoding`));
      res.status(status).json(body);
    };
    if (!platformCredential(req.headers)) return own(req, res, fail);
    shared(req, res, (err?: unknown) => (err ? fail(err) : own(req, res, fail)));
  };
}

/**
 * A path under /api/v1 that neither API has: answered in the platform's shape to a request with an account key
 * (as the shared paths are), else left to Octeth's 404. Mounted after every /api/v1 router.
 */
export function platformNotFound(): express.RequestHandler {
  return (req, res, next) => {
    const path = req.path.toLowerCase();
    if ((path !== '/api/v1' && !path.startsWith('/api/v1/')) || !platformCredential(req.headers)) return next();
    const { status, body } = writePlatformFailure({ failure: 'not_found', message: `No route for ${req.method} ${req.path}` });
    res.status(status).json(body);
  };
}
