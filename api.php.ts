import crypto from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import qs from 'qs';
import type { Services } from './src/command';
import type { Dispatcher } from './src/dispatch';
import { errorTexts, lookupCommand } from './src/dispatch';
import {
  CommandError,
  hard,
  hardErrorHeaders,
  outageDetail,
  TEMPORARILY_UNAVAILABLE,
  legacyFailure,
  legacyHardFailure,
  legacySuccess,
  ResponseFormat,
  toHardError,
  writeLegacy,
} from './src/errors';
import { bodyReader, QS_OPTIONS } from './src/http/body';
import { collectParams, textSourcedKeys } from './src/http/params';
import { canonicalIp } from './src/auth/users';
import { sendStream, streamOf } from './src/http/stream-reply';

/** The legacy door: `GET|POST /api.php` with a `Command` parameter, answered in Octeth's envelope. */
export function legacyApi(services: Services, dispatcher: Dispatcher): express.Router {
  const router = express.Router();
  router.all('/api.php', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') return next(hard.badMethod(req.method));
    next();
  });
  router.all('/api.php', bodyReader(services.config.maxRequestBytes, services.bodies), async (req: Request, res: Response, next: NextFunction) => {
    const requestId = res.locals.requestId as string;
    const query = qs.parse(req.url.split('?')[1] ?? '', QS_OPTIONS);
    const params = collectParams(query, req.parsedBody?.body, req.parsedBody?.isJson ?? false);
    const format: ResponseFormat = params.responseformat === 'XML' ? 'XML' : 'JSON';
    res.locals.responseFormat = format;
    const name = typeof params.command === 'string' ? params.command.trim() : '';
    res.locals.command = lookupCommand(dispatcher.table, name)?.name;
    try {
      const { cmd, result } = await dispatcher.run(name, params, {
        requestId,
        ip: canonicalIp(req.ip ?? ''),
        headers: req.headers as Record<string, string | undefined>,
        textKeys: textSourcedKeys(query, req.parsedBody?.body, req.parsedBody?.isJson ?? false),
        door: 'api.php',
      });
      const stream = streamOf(result);
      if (stream) {
        sendStream(res, stream, (err) => services.logger.error('stream reply failed', { requestId, command: cmd.name, error: err.stack ?? String(err) }));
        return;
      }
      writeLegacy(res, format, 200, legacySuccess(result, !cmd.omitSuccessErrorCode));
    } catch (err) {
      if (err instanceof CommandError) {
        const cmd = lookupCommand(dispatcher.table, name);
        const authCode = err.codes[0] >= 99998;
        const asArray = err.asArray || (!authCode && !!cmd?.arrayErrors);
        // The contract answers 200 with the code in the body; a held caller is told its wait as every door tells it.
        if (err.retryAfterSec) res.setHeader('Retry-After', String(err.retryAfterSec));
        writeLegacy(res, format, 200, legacyFailure(err.codes, errorTexts(cmd, err), asArray, err.extra));
        return;
      }
      next(err);
    }
  });
  return router;
}

/** Hard failures and unhandled exceptions on /api.php: legacy envelope plus Errors[], never a stack trace. */
export function legacyErrorHandler(services: Services) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const requestId = (res.locals.requestId as string) ?? crypto.randomUUID();
    let failure = toHardError(err);
    if (failure?.code === TEMPORARILY_UNAVAILABLE) services.logger.warn('dependency unavailable', { requestId, path: req.path, error: outageDetail(failure) });
    if (!failure) {
      services.logger.error('unhandled exception', { requestId, path: req.path, error: (err as Error)?.stack ?? String(err) });
      failure = hard.internal(requestId);
    }
    const format: ResponseFormat = failure.jsonOnly ? 'JSON' : ((res.locals.responseFormat as ResponseFormat) ?? 'JSON');
    for (const [k, v] of Object.entries(hardErrorHeaders(failure))) res.setHeader(k, v);
    writeLegacy(res, format, failure.httpStatus, legacyHardFailure(failure));
  };
}
