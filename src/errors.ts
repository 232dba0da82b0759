import type { Response } from 'express';
import { toXml } from './http/xml';
import { isOutage } from './outage';

/**
 * A command's own numbered failure. `codes` holds one code (scalar reply) or several (array reply);
 * texts default to the command's error table.
 */
export class CommandError extends Error {
  readonly codes: number[];
  readonly asArray: boolean;
  readonly texts: string[] | undefined;
  /** Seconds a rate-limited caller should wait (v1: Retry-After). */
  retryAfterSec?: number;
  /** Fields that go into the failure envelope beside ErrorCode (smtprelay's SMTPResponse). */
  extra?: Record<string, unknown>;
  constructor(code: number | number[], text?: string | string[]) {
    const codes = Array.isArray(code) ? code : [code];
    super(`command error ${codes.join(',')}`);
    this.codes = codes;
    this.asArray = Array.isArray(code);
    this.texts = text === undefined ? undefined : Array.isArray(text) ? text : [text];
  }
}

/** Pipeline failures that are not a command's own: auth, permission, and the hard failures of §1.7. */
export class HardError extends Error {
  constructor(
    readonly code: number,
    readonly httpStatus: number,
    message: string,
    /** 100000/100001 are always JSON, whatever ResponseFormat says. */
    readonly jsonOnly = false,
    /** Sent as Retry-After by every door (503 temporarily unavailable). */
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }
}

/** Postern's own code for "a dependency (database, Redis) is not answering; nothing to fix in the request, retry". */
export const TEMPORARILY_UNAVAILABLE = 100007;
/** How long a client is asked to wait after a 503 (an outage is seconds to minutes; a shorter wait only adds load). */
export const OUTAGE_RETRY_AFTER_SEC = 5;

export const AUTH_FAILED = 99998;
export const PERMISSION_DENIED = 99999;

/**
 * A refused credential (unknown key) or account (gone, disabled), under whatever code the door's contract gives it.
 * The dialects answer by `failure`, not by the number: in a user command's own table 2 may mean "invalid email".
 */
export class CredentialError extends CommandError {
  constructor(
    code: number,
    text: string,
    readonly failure: 'unauthorized' | 'account_inactive',
  ) {
    super(code, text);
  }
}

export const hard = {
  invalidJson: (detail = 'Request body is not valid JSON') => new HardError(100000, 400, detail, true),
  badMethod: (method: string) => new HardError(100001, 400, `Unsupported request method: ${method}. Use GET or POST.`, true),
  unknownCommand: (name: string) =>
    name === ''
      ? new HardError(100003, 400, 'Missing API command: send the Command parameter.')
      : new HardError(100003, 400, `Invalid API command: "${name}" not found.`),
  tooLarge: (limit: number) => new HardError(100006, 413, `Request body is larger than ${limit} bytes.`, true),
  internal: (requestId: string) => new HardError(100005, 500, `Internal error. Quote request id ${requestId} when reporting it.`),
  /** The process holds MAX_BODY_BYTES_IN_FLIGHT of request bodies already (src/http/body-budget.ts). */
  busy: (limit: number) =>
    new HardError(
      TEMPORARILY_UNAVAILABLE,
      503,
      `Service busy: this server is receiving ${limit} bytes of request bodies already (MAX_BODY_BYTES_IN_FLIGHT). Retry in 1 second.`,
      false,
      1,
    ),
  /** `cause` (the driver's error) is kept for the log, never shown to the caller. */
  unavailable: (cause?: unknown) => {
    const err = new HardError(
      TEMPORARILY_UNAVAILABLE,
      503,
      `Service temporarily unavailable: its database or queue is not answering. Retry in ${OUTAGE_RETRY_AFTER_SEC} seconds.`,
      false,
      OUTAGE_RETRY_AFTER_SEC,
    );
    err.cause = cause;
    return err;
  },
};

/** A HardError as is, an outage (src/outage.ts) as 100007 / 503; null for anything else (an internal error). */
export function toHardError(err: unknown): HardError | null {
  if (err instanceof HardError) return err;
  return isOutage(err) ? hard.unavailable(err) : null;
}

/**
 * What to log about a 100007: the driver's error code, else its class and text. Never the message of a failed
 * query (knex writes the SQL with its bound values into it) and never a stack (outages come in floods).
 */
export function outageDetail(err: HardError): string {
  const cause = err.cause as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return `${String(cause?.name ?? 'Error')}: ${String(cause?.message ?? err.message)}`.slice(0, 200);
}

export type ResponseFormat = 'JSON' | 'XML';

/** The one writer of the legacy `/api.php` envelope. */
export function writeLegacy(res: Response, format: ResponseFormat, status: number, body: Record<string, unknown>): void {
  if (format === 'XML') {
    res.status(status).type('text/xml; charset=utf-8').send(toXml(body));
    return;
  }
  res.status(status).json(body);
}

export function legacySuccess(result: Record<string, unknown>, includeErrorCode = true): Record<string, unknown> {
  return includeErrorCode ? { Success: true, ErrorCode: 0, ...result } : { Success: true, ...result };
}

export function legacyFailure(codes: number[], texts: string[], asArray: boolean, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return asArray ? { Success: false, ErrorCode: codes, ErrorText: texts, ...extra } : { Success: false, ErrorCode: codes[0], ErrorText: texts[0], ...extra };
}

export function legacyHardFailure(err: HardError): Record<string, unknown> {
  return { Success: false, ErrorCode: err.code, ErrorText: err.message, Errors: [{ Code: err.code, Message: err.message }] };
}

/** Retry-After for a HardError that carries one. */
export function hardErrorHeaders(err: HardError): Record<string, string> {
  return err.retryAfterSec ? { 'Retry-After': String(err.retryAfterSec) } : {};
}

/** The one writer of the `/api/v1/*` error envelope. */
export function writeV1Errors(res: Response, status: number, errors: { Code: number; Message: string }[], headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).json({ Errors: errors });
}
