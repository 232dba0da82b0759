import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import type multerModule from 'multer';
import qs from 'qs';
import { hard, HardError } from '../errors';
import { lazy } from '../lazy';
import { MAX_JSON_DEPTH, nestsDeeper } from './params';
import type { BodyBudget } from './body-budget';

export interface ParsedBody {
  body: unknown;
  isJson: boolean;
}

declare module 'express-serve-static-core' {
  interface Request {
    parsedBody?: ParsedBody;
  }
}

const QS_OPTIONS: qs.IParseOptions = { allowPrototypes: false, depth: 8, parameterLimit: 5000, arrayLimit: 1000 };

/** How a door reads JSON. */
export interface BodyOptions {
  /**
   * A UTF-8 byte order mark before a JSON body is read past (RFC 8259 §8.1 lets a parser ignore one; Windows tools
   * and .NET's UTF8Encoding write one). The REST dialects take it; /api.php and Octeth's v1 door keep their replies.
   */
  skipBom?: boolean;
}

/**
 * Reads any body into `req.parsedBody`: JSON (declared, or an undeclared body that starts with `{`,
 * as `curl -d '{…}'` sends), form-urlencoded, or multipart form fields. Failures become HardErrors.
 */
export function bodyReader(limit: number, budget: BodyBudget, opts: BodyOptions = {}) {
  // multer (and busboy) load at the first multipart body: JSON and form-urlencoded clients never need them (src/lazy.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
  const upload = lazy(() => (require('multer') as typeof multerModule)({ limits: { fieldSize: limit, fields: 5000, files: 0 } }).none());
  const raw = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction): void => {
    // Reserved before a byte is read (body-budget.ts); a request with no body reserves nothing.
    const declared = Number(req.headers['content-length'] ?? 0);
    const want = req.headers['transfer-encoding'] !== undefined ? limit : Number.isFinite(declared) && declared > 0 ? Math.min(declared, limit) : 0;
    if (want > 0) {
      if (!budget.take(want)) return next(hard.busy(budget.limit));
      res.once('close', () => budget.give(want));
    }
    // Too large is answered as soon as it is known: at once for a declared length over the limit, and at the chunk
    // that passes it when chunked, while the client may still be sending (the parsers would read the rest first,
    // discarding it, before their error came out). The reply closes the connection (src/http/unread-body.ts): the rest
    // of the upload is not read.
    if (declared > limit) return next(hard.tooLarge(limit));
    let answered = false;
    let total = 0;
    const once = (err?: unknown) => {
      if (answered) return;
      answered = true;
      req.off('data', counter);
      next(err);
    };
    const counter = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) return;
      req.unpipe(); // multer stops receiving: what it parsed so far is dropped, and the reply closes the connection
      once(hard.tooLarge(limit));
    };
    req.on('data', counter);
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (type.startsWith('multipart/form-data')) {
      // multer bounds each field (fieldSize) and the field count, not their sum (5,000 fields of `limit` bytes each):
      // the body as a whole is counted above and refused at `limit`, as the other types are.
      upload()(req, res, (err: unknown) => {
        if (err) return once(multipartError(err, limit));
        req.parsedBody = { body: req.body ?? {}, isJson: false };
        once();
      });
      return;
    }
    raw(req, res, (err: unknown) => {
      if (err) return once(rawError(err, limit));
      const buf: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        req.parsedBody = parseBuffer(buf, type, opts);
      } catch (e) {
        return once(e);
      }
      once();
    });
  };
}

function parseBuffer(buf: Buffer, type: string, opts: BodyOptions): ParsedBody {
  const decoded = buf.toString('utf8');
  const text = opts.skipBom && decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  if (text.trim() === '') return { body: {}, isJson: false };
  const declaredJson = type.includes('json');
  if (declaredJson || /^\s*\{/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw hard.invalidJson(`Request body is not valid JSON: ${(e as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw hard.invalidJson('Request body must be a JSON object');
    if (nestsDeeper(parsed, MAX_JSON_DEPTH)) throw hard.invalidJson(`Request body nests objects and arrays more than ${MAX_JSON_DEPTH} deep`);
    return { body: parsed, isJson: true };
  }
  return { body: qs.parse(text, QS_OPTIONS), isJson: false };
}

function rawError(err: unknown, limit: number): HardError {
  const e = err as { type?: string; status?: number };
  if (e.type === 'entity.too.large' || e.status === 413) return hard.tooLarge(limit);
  return hard.invalidJson('Request body could not be read');
}

function multipartError(err: unknown, limit: number): HardError {
  const e = err as { code?: string; message?: string };
  if (e.code === 'LIMIT_FIELD_VALUE' || e.code === 'LIMIT_FIELD_COUNT') return hard.tooLarge(limit);
  if (e.code === 'LIMIT_UNEXPECTED_FILE' || e.code === 'LIMIT_FILE_COUNT') {
    return new HardError(100000, 400, 'File uploads are not accepted here: send attachments as base64 fields', true);
  }
  return new HardError(100000, 400, `Malformed multipart body: ${e.message ?? 'unreadable'}`, true);
}

export { QS_OPTIONS };
