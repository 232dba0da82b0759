import express, { NextFunction, Request, Response } from 'express';
import qs from 'qs';
import type { CommandDef, Services } from '../command';
import { Dispatcher, errorTexts, Identity, lookupCommand, RequestMeta } from '../dispatch';
import { idempotencyHashes, IDEMPOTENCY_TTL_MS } from '../idempotency/keys';
import { runOnce } from '../idempotency/once';
import { remembered } from '../idempotency/remembered';
import { CommandError, hardErrorHeaders, outageDetail, TEMPORARILY_UNAVAILABLE, toHardError, writeV1Errors } from '../errors';
import { canonicalIp } from '../auth/users';
import { presentedSenderKey } from '../auth/authenticate';
import { bodyReader, QS_OPTIONS } from '../http/body';
import { collectParams, textSourcedKeys } from '../http/params';
import { writeJson } from '../http/json-reply';
import { loggedPath } from '../http/logged-path';

interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Sent as text/plain (or `type`) instead of JSON. */
  text?: boolean;
  type?: string;
  /** The command failed (a CommandError): whatever reply statement it built was not committed (see idempotent). */
  failed?: boolean;
}

type Presented = { result?: Record<string, unknown>; err?: CommandError; texts?: string[]; errors?: { Code: number; Message: string }[]; status?: number };

/** Routes whose replies upstream shapes differently from the EG public routes. */
const present = {
  /** `{"Success":true,"Domains":[…]}`, PowerMTA text as text/plain, errors in the legacy envelope (HTTP 200; a bad admin key 403). */
  senderDomains(r: Presented): Outcome {
    if (r.err) return { status: r.err.codes[0] === 99998 ? 403 : 200, body: { Success: false, ErrorCode: r.err.codes[0], ErrorText: r.texts?.[0] } };
    if (typeof r.result?.Text === 'string') return { status: 200, body: r.result.Text, text: true };
    return { status: 200, body: { Success: true, Domains: r.result?.Domains } };
  },
  /**
   * 200 allowed, 500 `{}` denied, 403 `{"Errors":[{"Code":1,…}]}` for a bad admin key (a temporary failure to an MX), and
   * for a client held for wrong credentials (API_MAX_AUTH_FAILURES; Retry-After kept): a 500 there told the MX "denied"
   * for mail it should only defer. An outage answers 403 too (the route's handler).
   */
  relayCheck(r: Presented): Outcome {
    if (!r.err) return { status: 200, body: { Success: true, RelayDomain: r.result?.RelayDomain } };
    if (r.err.codes[0] === 99998) return { status: 403, body: { Errors: [{ Code: 1, Message: 'Authentication failed. Invalid admin API key.' }] } };
    if (r.err.codes[0] === 429) return { status: 403, body: { Errors: [{ Code: 1, Message: r.texts?.[0] ?? 'Too many requests' }] } };
    return { status: 500, body: {} };
  },
  /** `user.*` and subscriber.create (§2.1, §2.2): `{"Success":true,…}`; failed authentication `{"Errors":[{"Code":0,"Message":"Authentication failed"}]}`. */
  userFamily(r: Presented): Outcome {
    if (!r.err) return { status: 200, body: { Success: true, ...r.result } };
    if (r.err.codes[0] === 99998) return { status: r.status ?? 200, body: { Errors: [{ Code: 0, Message: 'Authentication failed' }] } };
    return { status: r.status ?? 200, body: { Errors: r.errors } };
  },
  /** POST /api/v1/subscriber.create: upstream's example keeps `"ErrorCode":0` on success; failures as the user family. */
  subscriberCreate(r: Presented): Outcome {
    return r.err ? present.userFamily(r) : { status: 200, body: { Success: true, ErrorCode: 0, ...r.result } };
  },
  /** Called by outside systems (inbound list webhooks): the legacy envelope (with Errors[] beside, as hard failures have), 404 for an unknown webhook. */
  legacy(r: Presented): Outcome {
    if (!r.err) return { status: 200, body: { Success: true, ErrorCode: 0, ...r.result } };
    return { status: r.status ?? 200, body: { Success: false, ErrorCode: r.err.codes[0], ErrorText: r.texts?.[0], Errors: r.errors } };
  },
};

/** The REST alias table: method + path → command. Path parameters join the command's parameters (lowercase). */
export const V1_ROUTES: {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  command: string;
  idempotent?: boolean;
  door?: string;
  present?: (typeof present)[keyof typeof present];
  statuses?: 'rest';
  /** A result carrying RawMIME is sent as that text with this content type. */
  mime?: string;
}[] = [
  { method: 'post', path: '/api/v1/email', command: 'emailgateway.sendemail', idempotent: true },
  { method: 'post', path: '/api/v1/email/batch', command: 'emailgateway.sendbatch', idempotent: true, door: 'batch' },
  { method: 'get', path: '/api/v1/email/:messageid', command: 'emailgateway.getmessage' },
  { method: 'delete', path: '/api/v1/email/:messageid', command: 'emailgateway.cancelmessage' },
  { method: 'get', path: '/api/v1/emails', command: 'emailgateway.getmessages' },
  { method: 'get', path: '/api/v1/events', command: 'emailgateway.getevents.public' },
  { method: 'get', path: '/api/v1/suppressions', command: 'emailgateway.getsuppressions.public' },
  { method: 'post', path: '/api/v1/suppressions', command: 'emailgateway.addsuppression.public' },
  { method: 'delete', path: '/api/v1/suppressions', command: 'emailgateway.deletesuppression.public' },
  { method: 'get', path: '/api/v1/webhooks', command: 'emailgateway.getwebhooks.public' },
  { method: 'post', path: '/api/v1/webhooks', command: 'emailgateway.addwebhook.public' },
  { method: 'delete', path: '/api/v1/webhooks', command: 'emailgateway.deletewebhook.public' },
  { method: 'get', path: '/api/v1/webhooks/:webhookid/log', command: 'emailgateway.getwebhooklog.public' },
  { method: 'post', path: '/api/v1/webhooks/:webhookid/retry', command: 'emailgateway.retrywebhookcalls.public' },
  { method: 'post', path: '/api/v1/sender.domains', command: 'sender.domains', present: present.senderDomains },
  { method: 'get', path: '/api/v1/inbound-relay-domain-check', command: 'emailgateway.inboundrelaydomaincheck', present: present.relayCheck },
  { method: 'post', path: '/api/v1/contacts', command: 'contacts.create', statuses: 'rest' },
  { method: 'get', path: '/api/v1/contacts', command: 'contacts.list', statuses: 'rest' },
  { method: 'get', path: '/api/v1/stats', command: 'emailgateway.accountstats.public' },
  { method: 'get', path: '/api/v1/captured', command: 'emailgateway.getcapturedmessages.public' },
  { method: 'get', path: '/api/v1/captured/:capturedid', command: 'emailgateway.getcapturedmessage.public', mime: 'message/rfc822' },
  // Upstream's user-area routes (§2.4): APIKey or SessionID in the query or body; PATCH reads a JSON body only.
  ...userRoutes([
    ['get', 'user.senderdomains', 'user.senderdomain.list'],
    ['get', 'user.senderdomain', 'user.senderdomain.get'],
    ['post', 'user.senderdomain', 'user.senderdomain.create'],
    ['patch', 'user.senderdomain', 'user.senderdomain.update'],
    ['delete', 'user.senderdomain', 'user.senderdomain.delete'],
    ['post', 'user.senderdomain.verify', 'user.senderdomain.verify'],
    ['post', 'user.senderdomain.rotatedkim', 'emailgateway.rotatedkim'],
    ['get', 'user.senderdomain.dns', 'user.senderdomain.dns'],
    ['post', 'user.senderdomain.sendtest', 'user.senderdomain.sendtest'],
    ['get', 'user.senderdomain.dnshost', 'user.senderdomain.dnshost'],
    ['get', 'user.webhooks', 'user.webhook.list'],
    ['get', 'user.webhook', 'user.webhook.get'],
    ['post', 'user.webhook', 'user.webhook.create'],
    ['put', 'user.webhook', 'user.webhook.update'],
    ['patch', 'user.webhook', 'user.webhook.update'],
    ['delete', 'user.webhook', 'user.webhook.delete'],
    ['get', 'user.webhook.stats', 'user.webhook.stats'],
    ['post', 'user.apikey', 'user.apikey.create'],
    ['post', 'user.apikey.delete', 'user.apikey.delete'],
    ['get', 'user.apikeys', 'user.apikey.list'],
  ]),
  // Queue control (issue 17 §4): a user's own deliveries with a SessionID or APIKey (or Bearer), all with the admin key.
  { method: 'get', path: '/api/v1/queue', command: 'queue.list', statuses: 'rest' },
  { method: 'get', path: '/api/v1/queue/status', command: 'queue.status', statuses: 'rest' },
  { method: 'post', path: '/api/v1/queue/retry', command: 'queue.retry', statuses: 'rest' },
  { method: 'post', path: '/api/v1/queue/hold', command: 'queue.hold', statuses: 'rest' },
  { method: 'post', path: '/api/v1/queue/release', command: 'queue.release', statuses: 'rest' },
  { method: 'post', path: '/api/v1/queue/purge', command: 'queue.purge', statuses: 'rest' },
  { method: 'post', path: '/api/v1/subscriber.create', command: 'subscriber.create', present: present.subscriberCreate },
  { method: 'post', path: '/system/webhook/:hashedid', command: 'user.webhook.receive', present: present.legacy },
  { method: 'get', path: '/system/webhook/:hashedid', command: 'user.webhook.receive', present: present.legacy },
];

function userRoutes(list: ['get' | 'post' | 'put' | 'patch' | 'delete', string, string][]): (typeof V1_ROUTES)[number][] {
  return list.map(([method, path, command]) => ({ method, path: `/api/v1/${path}`, command, present: present.userFamily }));
}

/**
 * Upstream §2.1: business errors on Octeth's v1 routes answer HTTP 200 with `Errors[]`; only the documented
 * exceptions (a command's `httpStatus`, e.g. 39 → 502) and rate limits (429, with Retry-After) differ.
 */
export function statusFor(cmd: CommandDef | undefined, code: number): number {
  const own = cmd?.httpStatus?.[code];
  if (own) return own;
  return code === 429 ? 429 : 200;
}

/** Routes of other dialects on this door keep their own statuses (`statuses: 'rest'`: 400 unless the command says otherwise). */
function routeStatus(route: (typeof V1_ROUTES)[number], cmd: CommandDef | undefined, code: number): number {
  if (route.statuses === 'rest' && !cmd?.httpStatus?.[code] && code !== 429) return 400;
  return statusFor(cmd, code);
}

function v1Errors(cmd: CommandDef | undefined, err: CommandError) {
  const texts = errorTexts(cmd, err);
  return err.codes.map((Code, i) => ({ Code, Message: texts[i] }));
}

function stillProcessing(retryAfterSec: number): Outcome {
  return {
    status: 409,
    body: { Errors: [{ Code: 409, Message: 'A request with this Idempotency-Key is still being processed' }] },
    headers: { 'Retry-After': String(retryAfterSec) },
  };
}

/** The sender credential a send request presents, read as authentication reads it ('' when none). */
function sendCredential(req: Request): string {
  const params = collectParams(qs.parse(req.url.split('?')[1] ?? '', QS_OPTIONS), req.parsedBody?.body, req.parsedBody?.isJson ?? false);
  return presentedSenderKey(req.headers as Record<string, string | undefined>, params);
}

/**
 * The query-string parameters an Idempotency-Key fingerprint covers: the command reads them as it reads the body,
 * so `?To=…&Subject=…` with another recipient is another request. The credential is not one (a sender key sent in
 * the query or as a header is the same caller, and it already scopes the key).
 */
function fingerprintedQuery(req: Request): Record<string, unknown> {
  const query = qs.parse(req.url.split('?')[1] ?? '', QS_OPTIONS) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(query).filter(([k]) => k.toLowerCase() !== 'senderapikey'));
}

/** The `/api/v1/*` door: same dispatcher as /api.php, bare results on success, `{"Errors":[…]}` on failure. */
export function v1Api(services: Services, dispatcher: Dispatcher): express.Router {
  const router = express.Router();
  const reader = bodyReader(services.config.maxRequestBytes, services.bodies);

  /** The command's parameters and the request's meta, as the dispatcher takes them. */
  function commandRequest(route: (typeof V1_ROUTES)[number], req: Request): { params: Record<string, unknown>; meta: RequestMeta } {
    // PATCH reads a JSON body only (upstream §1.1): query-string and form parameters are ignored.
    const jsonOnly = route.method === 'patch';
    const query = jsonOnly ? {} : qs.parse(req.url.split('?')[1] ?? '', QS_OPTIONS);
    const body = jsonOnly && !req.parsedBody?.isJson ? {} : req.parsedBody?.body;
    const params = collectParams(query, body, req.parsedBody?.isJson ?? false);
    for (const [k, v] of Object.entries(req.params)) params[k.toLowerCase()] = v;
    const meta: RequestMeta = {
      requestId: String(req.res?.locals.requestId ?? ''),
      ip: canonicalIp(req.ip ?? ''),
      headers: req.headers as Record<string, string | undefined>,
      textKeys: textSourcedKeys(query, body, req.parsedBody?.isJson ?? false),
      door: route.door ?? 'v1',
    };
    return { params, meta };
  }

  /** A command's failure in the route's envelope (a CommandError); anything else is thrown on to the error handler. */
  function failure(route: (typeof V1_ROUTES)[number], err: unknown): Outcome {
    if (!(err instanceof CommandError)) throw err;
    const cmd = lookupCommand(dispatcher.table, route.command);
    const headers: Record<string, string> = err.retryAfterSec ? { 'Retry-After': String(err.retryAfterSec) } : {};
    const status = routeStatus(route, cmd, err.codes[0]);
    if (route.present) return { headers, failed: true, ...route.present({ err, texts: errorTexts(cmd, err), errors: v1Errors(cmd, err), status }) };
    return { status, body: { Errors: v1Errors(cmd, err) }, headers, failed: true };
  }

  async function run(route: (typeof V1_ROUTES)[number], req: Request, idempotentReply?: RequestMeta['idempotentReply'], identity?: Identity): Promise<Outcome> {
    const { params, meta } = commandRequest(route, req);
    try {
      const { result } = await dispatcher.run(route.command, params, { ...meta, idempotentReply, identity });
      // Mail content (HTML included) must never be sniffed into a page by a browser.
      if (route.mime && typeof result.RawMIME === 'string')
        return { status: 200, body: result.RawMIME, text: true, type: route.mime, headers: { 'X-Content-Type-Options': 'nosniff' } };
      return route.present ? route.present({ result }) : { status: 200, body: result };
    } catch (err) {
      return failure(route, err);
    }
  }

  /**
   * Idempotency-Key: same key and request (body and query) → the first answer again; same key, another request →
   * 409; kept 24 h. The key is leased (src/idempotency/keys.ts): a success is stored with the messages it committed,
   * in one transaction. What is not remembered: src/idempotency/remembered.ts.
   */
  async function idempotent(route: (typeof V1_ROUTES)[number], req: Request, key: string): Promise<Outcome> {
    if (key.length > 256) return { status: 400, body: { Errors: [{ Code: 400, Message: 'Idempotency-Key must be at most 256 characters' }] } };
    // Keys are kept per credential, read as authentication reads it (Bearer, X-API-Key, then SenderAPIKey from the
    // query or the body): only a caller holding the same key can replay, or take, another's Idempotency-Key. No
    // credential: nothing to scope by, so no claim (authentication answers code 1).
    const credential = sendCredential(req);
    if (!credential) return run(route, req);
    // A credential that does not authenticate (unknown, revoked, its account gone) claims nothing and replays
    // nothing: random keys with a bad credential write no row, and a revoked key no longer reads its old replies.
    let identity: Identity;
    try {
      const { params, meta } = commandRequest(route, req);
      identity = await dispatcher.authenticate(route.command, params, meta);
    } catch (err) {
      return failure(route, err);
    }
    // The same steps as at the platform's door (src/idempotency/once.ts). A success is stored as the bare result, which
    // a replay answers; this request itself answers its outcome as run built it (its headers too).
    const keyed = await runOnce(
      services.db,
      {
        ...idempotencyHashes(credential, `${route.method} ${route.path}`, key, req.parsedBody?.body ?? {}, fingerprintedQuery(req)),
        leaseMs: services.config.idempotencyLeaseSeconds * 1000,
        ttlMs: IDEMPOTENCY_TTL_MS,
      },
      (result) => ({ status: 200, body: result }),
      async (idempotentReply) => {
        const outcome = await run(route, req, idempotentReply, identity);
        return { reply: outcome, failed: outcome.failed === true, remembered: remembered(outcome) };
      },
    );
    if (keyed.kind === 'ran') return keyed.reply;
    if (keyed.kind === 'replay') return { status: keyed.reply.status, body: keyed.reply.body, headers: { 'Idempotent-Replayed': 'true' } };
    if (keyed.kind === 'mismatch')
      return { status: 409, body: { Errors: [{ Code: 409, Message: 'Idempotency-Key was already used with a different request body' }] } };
    return stillProcessing(keyed.retryAfterSec);
  }

  for (const route of V1_ROUTES) {
    router[route.method](route.path, reader, async (req: Request, res: Response, next: NextFunction) => {
      res.locals.command = route.command;
      try {
        const key = req.headers['idempotency-key'];
        const outcome = route.idempotent && typeof key === 'string' && key !== '' ? await idempotent(route, req, key) : await run(route, req);
        for (const [k, v] of Object.entries(outcome.headers ?? {})) res.setHeader(k, v);
        if (outcome.text)
          res
            .status(outcome.status)
            .type(outcome.type ?? 'text/plain; charset=utf-8')
            .send(String(outcome.body));
        else writeJson(res, outcome.status, outcome.body);
      } catch (err) {
        // The relay check's contract has 200, 403 (temporary) and 500 (denied): an MX reads any other status by its
        // own rules, so a database or Redis outage is its temporary failure, with the outage's Retry-After.
        const down = route.present === present.relayCheck ? toHardError(err) : null;
        if (down?.code === TEMPORARILY_UNAVAILABLE) {
          services.logger.warn('dependency unavailable', { requestId: res.locals.requestId, path: loggedPath(req), error: outageDetail(down) });
          writeV1Errors(res, 403, [{ Code: 1, Message: down.message }], hardErrorHeaders(down));
          return;
        }
        next(err);
      }
    });
  }

  router.use(['/api/v1', '/system/webhook'], (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const failure = toHardError(err);
    if (failure) {
      if (failure.code === TEMPORARILY_UNAVAILABLE)
        services.logger.warn('dependency unavailable', {
          requestId: res.locals.requestId,
          path: loggedPath(req),
          error: outageDetail(failure),
        });
      writeV1Errors(res, failure.httpStatus, [{ Code: failure.code, Message: failure.message }], hardErrorHeaders(failure));
      return;
    }
    next(err);
  });
  return router;
}
