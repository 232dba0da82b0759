import express, { NextFunction, Request, Response } from 'express';
import addressparser from 'nodemailer/lib/addressparser';
import type { AuthKind, Params, Services } from '../command';
import { Dispatcher, errorTexts, Identity, lookupCommand } from '../dispatch';
import { AUTH_FAILED, CommandError, CredentialError, HardError, PERMISSION_DENIED, TEMPORARILY_UNAVAILABLE } from '../errors';
import { canonicalIp } from '../auth/users';
import { bodyReader } from '../http/body';
import { presentedKey } from '../auth/account-keys';
import { idempotencyHashes, IDEMPOTENCY_TTL_MS } from '../idempotency/keys';
import { runOnce } from '../idempotency/once';
import { remembered } from '../idempotency/remembered';
import { MAX_FIELD_ADDRESSES, separators } from '../smtp/message-rules';

/** One route of a dialect, as the OpenAPI generator lists them. */
export interface DialectRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  command: string;
  summary?: string;
}

/**
 * What went wrong, in words every dialect can map to its own status and code. The first code of a failure
 * that most concerns the caller decides (an unusable key before a bad field).
 */
export type Failure =
  | 'unauthorized'
  | 'account_inactive'
  | 'forbidden'
  | 'domain_not_found'
  | 'domain_not_verified'
  | 'rate_limited'
  | 'quota'
  | 'not_found'
  | 'invalid'
  | 'too_large'
  | 'conflict'
  | 'unavailable'
  | 'internal';

const SEVERITY: Failure[] = [
  'unauthorized',
  'account_inactive',
  'forbidden',
  'domain_not_found',
  'domain_not_verified',
  'rate_limited',
  'quota',
  'not_found',
  'invalid',
];

/** Codes every command shares: the doors' own auth, permission and rate-limit failures. */
const BY_CODE: Record<number, Failure> = {
  [AUTH_FAILED]: 'unauthorized',
  // A batch's message not written because the store stopped answering mid-request: retry it, it was not invalid.
  [TEMPORARILY_UNAVAILABLE]: 'unavailable',
  12: 'account_inactive',
  34: 'account_inactive',
  [PERMISSION_DENIED]: 'forbidden',
  46: 'domain_not_found',
  32: 'domain_not_verified',
  17: 'quota',
  429: 'rate_limited',
  39: 'internal',
};

/**
 * The sender door's key codes (src/auth/authenticate.ts: 1 missing, 13 invalid, 2 account gone or disabled). Only
 * sender commands use them so: in a user command's table they are its own field errors (contacts.create 2 = invalid email).
 */
const SENDER_KEY_CODES: Record<number, Failure> = { 1: 'unauthorized', 13: 'unauthorized', 2: 'account_inactive' };

export interface Classified {
  failure: Failure;
  message: string;
  /** Seconds to wait, for rate_limited and unavailable when known. */
  retryAfterSec?: number;
}

/**
 * Sorts a command's failure into a Failure. `notFound` lists the command's own "no such thing" codes; `auth` is the
 * command's kind (the sender door's key codes apply to sender commands only).
 */
export function classify(err: CommandError | HardError, texts: string[], notFound: number[] = [], auth: AuthKind = 'sender'): Classified {
  if (err instanceof HardError) {
    const retry = (err as HardError & { retryAfterSec?: number }).retryAfterSec;
    if (err.httpStatus === 503) return { failure: 'unavailable', message: err.message, retryAfterSec: retry };
    if (err.httpStatus === 413) return { failure: 'too_large', message: err.message };
    if (err.httpStatus >= 500) return { failure: 'internal', message: err.message };
    return { failure: 'invalid', message: err.message };
  }
  const own = (c: number) => BY_CODE[c] ?? (auth === 'sender' ? SENDER_KEY_CODES[c] : undefined) ?? 'invalid';
  const kinds = err.codes.map((c) => (err instanceof CredentialError ? err.failure : notFound.includes(c) ? 'not_found' : own(c)));
  const worst = SEVERITY.find((f) => kinds.includes(f)) ?? kinds[0];
  const message =
    err.codes
      .map((_, i) => texts[i])
      .filter((t, i) => kinds[i] === worst && t)
      .join('; ') ||
    texts[0] ||
    'Request failed';
  return { failure: worst, message, retryAfterSec: err.retryAfterSec };
}

export type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: Classified };

/** A dialect route: its params from the request, and its reply from the command's result. */
export interface HandledRoute extends DialectRoute {
  /** The command's params, or a failure of the request itself (a dialect-level validation). */
  params(req: Request): Params | Classified;
  reply(result: Record<string, unknown>, req: Request): { status: number; body: unknown };
  /** The command's codes meaning "not found". */
  notFound?: number[];
  /** A dialect's own refusal of the credential's shape, from the headers alone; checked before anything else. */
  refusesCredential?(req: Request): Classified | null;
  /** Takes an `Idempotency-Key` header (a send route): see keyedRun. */
  idempotent?: boolean;
}

/** A dialect request's meta: its id, the credential headers and the client address, as every door passes them. */
function requestMeta(req: Request) {
  return { requestId: String(req.res?.locals.requestId ?? ''), ip: canonicalIp(req.ip ?? ''), headers: req.headers as Record<string, string | undefined> };
}

/**
 * Runs one command for a dialect request: the same dispatcher, credential headers and client address as every door;
 * as `identity` when the router authenticated the request already.
 */
export async function runCommand(
  dispatcher: Dispatcher,
  req: Request,
  command: string,
  params: Params,
  notFound: number[] = [],
  identity?: Identity,
): Promise<Outcome> {
  try {
    const { result } = await dispatcher.run(command, params, { ...requestMeta(req), identity });
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: classifyFailure(dispatcher, command, err, notFound) };
  }
}

/** A command's CommandError or HardError as the dialects classify it; anything else is thrown on. */
function classifyFailure(dispatcher: Dispatcher, command: string, err: unknown, notFound: number[]): Classified {
  if (err instanceof CommandError) {
    const cmd = lookupCommand(dispatcher.table, command);
    return classify(err, errorTexts(cmd, err), notFound, cmd?.auth);
  }
  if (err instanceof HardError) return classify(err, [err.message]);
  throw err;
}

/** The request's credential for `command`: the caller's identity, or the classified refusal. */
async function credentialOf(dispatcher: Dispatcher, req: Request, command: string): Promise<{ identity: Identity } | { refused: Classified }> {
  try {
    return { identity: await dispatcher.authenticate(command, {}, requestMeta(req)) };
  } catch (err) {
    return { refused: classifyFailure(dispatcher, command, err, []) };
  }
}

/** How a dialect writes a failure: status, body and headers. */
export type FailureWriter = (e: Classified, route: DialectRoute) => { status: number; body: unknown; headers?: Record<string, string> };

/**
 * A dialect's routes on one router: body reading (JSON, form, multipart), the command, the reply. Failures of
 * the command, of the body (malformed JSON, too large) and unexpected exceptions (logged with the request id,
 * never their details) all leave in the dialect's own error shape.
 */
export function dialectRouter(services: Services, dispatcher: Dispatcher, routes: HandledRoute[], writeFailure: FailureWriter): express.Router {
  const router = express.Router();
  const reader = bodyReader(services.config.maxRequestBytes, services.bodies, { skipBom: true });
  const send = (res: Response, out: { status: number; body: unknown; headers?: Record<string, string> }) => {
    for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
    res.status(out.status).json(out.body);
  };
  for (const route of routes) {
    const onError = (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (err instanceof HardError) return send(res, writeFailure(classify(err, [err.message]), route));
      services.logger.error('unhandled exception', { requestId: res.locals.requestId, path: req.path, error: (err as Error)?.stack ?? String(err) });
      send(res, writeFailure({ failure: 'internal', message: `Internal error. Quote request id ${res.locals.requestId} when reporting it.` }, route));
    };
    router[route.method](
      route.path,
      // The key is checked before the body is read or judged (the dialects' keys come in headers only): a caller
      // without a valid key costs no body parse, no address parsing and no placeholder filling (a 100 KB request of
      // placeholders once filled into 500M characters before its 401), learns nothing about what the route takes,
      // and a client with both faults is told the one it must fix first, as the command's own order would.
      async (req: Request, res: Response, next: NextFunction) => {
        res.locals.command = route.command;
        try {
          const shape = route.refusesCredential?.(req);
          if (shape) return send(res, writeFailure(shape, route));
          const credential = await credentialOf(dispatcher, req, route.command);
          if ('refused' in credential) return send(res, writeFailure(credential.refused, route));
          res.locals.identity = credential.identity;
          next();
        } catch (err) {
          next(err);
        }
      },
      reader,
      async (req: Request, res: Response, next: NextFunction) => {
        try {
          const repeated = repeatedQuery(req);
          const params = repeated ? invalid(`${repeated} must be given once, as a plain value`) : route.params(req);
          if ('failure' in params && typeof params.failure === 'string') return send(res, writeFailure(params as Classified, route));
          const key = req.headers['idempotency-key'];
          if (route.idempotent && typeof key === 'string' && key !== '')
            return send(res, await keyedRun(services, dispatcher, route, req, params as Params, key, writeFailure));
          const outcome = await runCommand(dispatcher, req, route.command, params as Params, route.notFound, res.locals.identity as Identity);
          send(res, outcome.ok ? route.reply(outcome.result, req) : writeFailure(outcome.error, route));
        } catch (err) {
          next(err);
        }
      },
      onError,
    );
  }
  return router;
}

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

/**
 * A send under an Idempotency-Key, kept per credential (the account key: another account's same key is another key)
 * and route: the same request again gets the first reply (Idempotent-Replayed: true) and sends nothing; another
 * request under the key, or one while the first still runs, is a conflict (409), as at Octeth's v1 door. The reply
 * stored is the dialect's own, written with the messages in one transaction (src/idempotency/once.ts).
 */
async function keyedRun(
  services: Services,
  dispatcher: Dispatcher,
  route: HandledRoute,
  req: Request,
  params: Params,
  key: string,
  writeFailure: FailureWriter,
): Promise<Reply> {
  if (key.length > 256) return writeFailure(invalid('Idempotency-Key must be at most 256 characters'), route);
  const credential = presentedKey(req.headers as Record<string, string | undefined>);
  const keyed = await runOnce(
    services.db,
    {
      ...idempotencyHashes(credential, `${route.method} ${route.path}`, key, req.parsedBody?.body ?? {}),
      leaseMs: services.config.idempotencyLeaseSeconds * 1000,
      ttlMs: IDEMPOTENCY_TTL_MS,
    },
    (result) => route.reply(result, req),
    async (idempotentReply) => {
      try {
        const { result } = await dispatcher.run(route.command, params, {
          ...requestMeta(req),
          identity: req.res!.locals.identity as Identity,
          idempotentReply,
        });
        return { reply: route.reply(result, req), failed: false, remembered: remembered({ status: 200, body: result }) };
      } catch (err) {
        // An outage (a HardError) is thrown on: the key is freed, and the router answers it.
        if (!(err instanceof CommandError)) throw err;
        const reply = writeFailure(classifyFailure(dispatcher, route.command, err, route.notFound ?? []), route);
        return { reply, failed: true, remembered: remembered({ status: reply.status, body: { Errors: err.codes.map((Code) => ({ Code })) } }) };
      }
    },
  );
  if (keyed.kind === 'ran') return keyed.reply;
  if (keyed.kind === 'replay') return { ...keyed.reply, headers: { 'Idempotent-Replayed': 'true' } };
  if (keyed.kind === 'mismatch') return writeFailure({ failure: 'conflict', message: 'Idempotency-Key was already used with a different request body' }, route);
  return writeFailure(
    { failure: 'conflict', message: 'A request with this Idempotency-Key is still being processed', retryAfterSec: keyed.retryAfterSec },
    route,
  );
}

/**
 * The first query parameter given more than once (`?listId=1&listId=2`, an array to express's query parser) or in a
 * bracket form (`?listId[]=1`, `?status[x]=y`, names of their own to it): named in the refusal, where a route reading
 * its one string would have dropped the filter and answered with everything. Null when there is none.
 */
function repeatedQuery(req: Request): string | null {
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v === 'string' && !k.includes('[')) continue;
    const name = k.replace(/\[.*$/s, '');
    return /^[\w.-]{1,64}$/.test(name) ? name : 'a query parameter';
  }
  return null;
}

/** The JSON object body of a dialect request, with its keys as the client wrote them. */
export function bodyOf(req: Request): Record<string, unknown> {
  const b = req.parsedBody?.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

export const invalid = (message: string): Classified => ({ failure: 'invalid', message });

/**
 * A map field (metadata, custom_args, headers, the platform's tags) as sent, with `[]` read as absent: PHP's
 * json_encode writes an empty array for an empty map, and the specs' own examples are PHP clients.
 */
export function mapField(v: unknown): unknown {
  return Array.isArray(v) && v.length === 0 ? undefined : v;
}

/**
 * Addresses given as a string (`a@x.com`, `Ann <a@x.com>`, or several comma-separated), an array of such
 * strings, or an array of `{email, name}`: as `{name, email}` for the send pipeline, which validates them.
 */
export function addressList(v: unknown): { name: string; email: string }[] | null {
  if (v === undefined || v === null || v === '') return [];
  const items = Array.isArray(v) ? v : [v];
  const out: { name: string; email: string }[] = [];
  for (const item of items) {
    if (item && typeof item === 'object' && typeof (item as Record<string, unknown>).email === 'string') {
      const o = item as Record<string, unknown>;
      out.push({ email: String(o.email), name: typeof o.name === 'string' ? o.name : '' });
      continue;
    }
    if (typeof item !== 'string') return null;
    const parsed = addressparser(item, { flatten: true });
    // An address the parser cannot read is passed on as written, so the pipeline names it in its error.
    if (!parsed.length) out.push({ name: '', email: item });
    for (const a of parsed) out.push({ name: a.name, email: a.address || a.name });
  }
  return out;
}

/** At least the entries an address field's value holds, counted without parsing it (strings by their separators). */
function addressCount(v: unknown): number {
  const items = Array.isArray(v) ? v : [v];
  let n = items.length;
  for (const item of items) if (typeof item === 'string') n += separators(item);
  return n;
}

/**
 * Addresses a batch request may list in all, counted before any is parsed (about 0.4 s of addressparser): 1,000
 * messages of 50 each, more than the send path takes. Each field's own bound (MAX_FIELD_ADDRESSES) times four fields
 * times 1,000 messages had let one request hold the event loop for 23 s.
 */
export const MAX_BATCH_ADDRESSES = 50_000;

/**
 * A field sent without a value: absent, null or "" (a Go struct without omitempty writes "", PHP's null writes null).
 * A batch message's from so takes the batch's own from, as a missing one does.
 */
export const noValue = (v: unknown) => v === undefined || v === null || v === '';

/**
 * Why a batch's messages list too many addresses in all (from, to, cc, bcc and reply-to, counted), or null. A batch's
 * shared `from` counts once for each message it is copied into (each without a `from` of its own).
 */
export function crowdedBatch(messages: unknown[], sharedFrom?: unknown): string | null {
  const shared = noValue(sharedFrom) ? 0 : addressCount(sharedFrom);
  let n = 0;
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    const fields = m as Record<string, unknown>;
    if (noValue(fields.from)) n += shared;
    for (const [k, v] of Object.entries(fields)) if (ADDRESS_KEYS.has(k) && !noValue(v)) n += addressCount(v);
  }
  return n > MAX_BATCH_ADDRESSES ? `the messages list more than ${MAX_BATCH_ADDRESSES} addresses in all: send them in smaller batches` : null;
}

const ADDRESS_KEYS = new Set(['from', 'to', 'cc', 'bcc', 'reply_to', 'replyTo']);

/**
 * A message's `to` as the CyberPanel and platform specs show it: one string. Several recipients are comma-separated,
 * the form a request's `to` string may list them in (docs/dialects-cyberpanel.md, dialects-platform.md).
 */
export function toText(v: unknown): unknown {
  if (typeof v === 'string' || v === undefined || v === null) return v ?? null;
  const list = Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.map((x) => ({ name: '', email: x })) : addressList(v);
  if (!list) return v;
  return list.map((a) => (!a.name ? a.email : `${/[",;:<>@()]/.test(a.name) ? JSON.stringify(a.name) : a.name} <${a.email}>`)).join(', ');
}

/**
 * The send body the REST dialects share, as sendemail parameters: from (one address), to, cc, bcc and the reply-to
 * field (`replyToKey`: an address, "Name <address>" or an array), subject, html and/or text. The pipeline validates
 * the values themselves; this only refuses what it cannot read. `fromOptional` lets a message leave from out.
 */
export function messageParams(b: Record<string, unknown>, replyToKey: string, opts: { fromOptional?: boolean } = {}): Params | Classified {
  const absent = (k: string) => b[k] === undefined || b[k] === null || b[k] === '';
  const missing = ['from', 'to', 'subject'].filter((k) => absent(k) && !(k === 'from' && opts.fromOptional));
  if (missing.length) return invalid(`Missing required field${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  // Named as what it is: a subject of 5 or ["Hi"] was answered "Missing Subject", a client looking for a field it sent.
  const notText = ['subject', 'html', 'text'].find((k) => !absent(k) && typeof b[k] !== 'string');
  if (notText) return invalid(`${notText} must be a string`);
  const html = typeof b.html === 'string' && b.html !== '' ? b.html : undefined;
  const text = typeof b.text === 'string' && b.text !== '' ? b.text : undefined;
  if (!html && !text) return invalid('Missing required field: html or text');
  // Counted before any parsing, as the SMTP front counts a header's: a 28 MB "a,a,…" took addressparser 28 s and
  // 2 GB, before the request's key was even read. The pipeline's own caps (50 per field) then apply.
  const crowded = ['from', 'to', 'cc', 'bcc', replyToKey].find((k) => addressCount(b[k]) > MAX_FIELD_ADDRESSES);
  if (crowded) return invalid(`${crowded} lists more than ${MAX_FIELD_ADDRESSES} addresses`);
  // With fromOptional, a missing from is left for the command to fill (sendbatch's DefaultFrom).
  const from = absent('from') ? [undefined] : addressList(b.from);
  if (!from || from.length !== 1) return invalid('from must be one email address');
  const lists: Record<string, { name: string; email: string }[] | null> = {
    to: addressList(b.to),
    cc: addressList(b.cc),
    bcc: addressList(b.bcc),
    replyto: addressList(b[replyToKey]),
  };
  const bad = Object.entries(lists).find(([, v]) => v === null);
  if (bad) return invalid(`${bad[0] === 'replyto' ? replyToKey : bad[0]} must be an email address or an array of them`);
  return { from: from[0], ...lists, subject: b.subject, contenttype: html ? 'html' : 'plain', htmlcontent: html, plaincontent: text };
}

/** `2026-02-23T10:30:00Z`: ISO 8601 UTC to the second, as CyberPanel and CloudMails show times. */
export function isoSeconds(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Postern's message statuses in the five words the CloudMails and CyberPanel specs use (sent, delivered, bounced,
 * failed, deferred): accepted and not yet answered, or held by queue control, is `sent`; some recipients delivered is
 * `delivered` (the lookup's bounce reason names the rest).
 */
const SIMPLE_STATUS: Record<string, string> = {
  queued: 'sent',
  scheduled: 'sent',
  sending: 'sent',
  held: 'sent',
  deferred: 'deferred',
  delivered: 'delivered',
  partially_delivered: 'delivered',
  bounced: 'bounced',
  failed: 'failed',
  cancelled: 'failed',
};

export function simpleStatus(status: unknown): string {
  return SIMPLE_STATUS[String(status)] ?? 'failed';
}

export const isFailure = (x: Params | Classified): x is Classified => 'failure' in x && typeof x.failure === 'string';

/** The items of a batch request refused before its command ran (by index), kept for the reply. */
export function batchRefusals(req: Request): { refused?: (Classified | null)[] } {
  const locals = req.res!.locals as { batchRefusals?: { refused?: (Classified | null)[] } };
  return (locals.batchRefusals ??= {});
}

/**
 * A batch's items as the command's messages: one refused here keeps its place as an empty message (with an empty
 * From, so it asks for no default sender), which the pipeline refuses and sends nowhere, so the key is still checked
 * and the results keep the request's order. The refusals go to batchRefusals for the reply.
 */
export function batchMessages(req: Request, each: (Params | Classified)[]): Params[] {
  batchRefusals(req).refused = each.map((x) => (isFailure(x) ? x : null));
  return each.map((x) => (isFailure(x) ? { from: { name: '', email: '' } } : x));
}
