import crypto from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import { legacyApi, legacyErrorHandler } from '../api.php';
import { commands } from '../commands';
import type { Services } from './command';
import { pingDb } from './db';
import { withDeadline } from './outage';
import { createDispatcher, Dispatcher } from './dispatch';
import { hardErrorHeaders, toHardError, writeV1Errors } from './errors';
import { Validator } from './validation';
import { v1Api } from './v1/router';
import { trackingRoutes } from './tracking/routes';
import { consoleRoutes } from './console/serve';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface App {
  app: express.Express;
  dispatcher: Dispatcher;
}

/** The express app: /api.php, /healthz, /readyz. Refuses to build if a command lacks a schema or vice versa. */
export function createApp(services: Services): App {
  const dispatcher = createDispatcher(services, commands, new Validator(commands));
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', services.config.trustProxy === 'false' ? false : services.config.trustProxy);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // Method, path, outcome and timing only: parameters can carry credentials and are never logged.
      services.logger.info('request', {
        requestId: id,
        method: req.method,
        path: req.path,
        command: res.locals.command,
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        ip: req.ip,
      });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Answers within 2 s whatever the dependencies do: each probe has its own 1.5 s deadline and they run together.
  // Ready means the database answers. Without Redis the process still accepts (the sweeper enqueues later, limits
  // fall back to in-process counters): 200 "degraded", so a load balancer does not take every instance out.
  app.get('/readyz', async (_req, res) => {
    const probe = (p: () => Promise<unknown>) =>
      p().then(
        () => 'ok',
        (err: Error) => `unreachable: ${err.message}`,
      );
    const [database, redis] = await Promise.all([
      probe(() => pingDb(services.db)),
      services.redis ? probe(() => withDeadline(services.redis!.ping(), 1500, 'Redis')) : Promise.resolve('not configured (in-process queue)'),
    ]);
    const checks: Record<string, string> = { database, redis };
    const status = database !== 'ok' ? 'unavailable' : services.redis && redis !== 'ok' ? 'degraded' : 'ok';
    res.status(status === 'unavailable' ? 503 : 200).json({ status, checks });
  });

  app.use(consoleRoutes());
  app.use(trackingRoutes(services));
  app.use(legacyApi(services, dispatcher));
  app.use(v1Api(services, dispatcher));
  app.use('/api.php', legacyErrorHandler(services));

  app.use((req: Request, res: Response) => {
    writeV1Errors(res, 404, [{ Code: 404, Message: `No route for ${req.method} ${req.path}` }]);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const failure = toHardError(err);
    if (failure) {
      writeV1Errors(res, failure.httpStatus, [{ Code: failure.code, Message: failure.message }], hardErrorHeaders(failure));
      return;
    }
    services.logger.error('unhandled exception', { requestId: res.locals.requestId, path: req.path, error: (err as Error)?.stack ?? String(err) });
    writeV1Errors(res, 500, [{ Code: 100005, Message: `Internal error. Quote request id ${res.locals.requestId} when reporting it.` }]);
  });
  return { app, dispatcher };
}
