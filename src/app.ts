import crypto from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import { legacyApi, legacyErrorHandler } from '../api.php';
import { commands } from '../commands';
import type { Services } from './command';
import { pingDb } from './db';
import { createDispatcher, Dispatcher } from './dispatch';
import { writeV1Errors } from './errors';
import { Validator } from './validation';
import { v1Api } from './v1/router';
import { cyberpanelApi } from './dialects/cyberpanel';
import { platformApi } from './dialects/platform';
import { trackingRoutes } from './tracking/routes';

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

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    let ready = true;
    try {
      await pingDb(services.db);
      checks.database = 'ok';
    } catch (err) {
      ready = false;
      checks.database = `unreachable: ${(err as Error).message}`;
    }
    if (services.redis) {
      try {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('no answer within 2 s')), 2000)));
        await Promise.race([services.redis.ping(), timeout]).finally(() => clearTimeout(timer));
        checks.redis = 'ok';
      } catch (err) {
        ready = false;
        checks.redis = `unreachable: ${(err as Error).message}`;
      }
    } else checks.redis = 'not configured (in-process queue)';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', checks });
  });

  app.use(trackingRoutes(services));
  app.use(legacyApi(services, dispatcher));
  app.use(platformApi(services, dispatcher)); // before Octeth's v1 door: an account key picks the platform on shared paths
  app.use(v1Api(services, dispatcher));
  app.use(cyberpanelApi(services, dispatcher));
  app.use('/api.php', legacyErrorHandler(services));

  app.use((req: Request, res: Response) => {
    writeV1Errors(res, 404, [{ Code: 404, Message: `No route for ${req.method} ${req.path}` }]);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    services.logger.error('unhandled exception', { requestId: res.locals.requestId, path: req.path, error: (err as Error)?.stack ?? String(err) });
    writeV1Errors(res, 500, [{ Code: 100005, Message: `Internal error. Quote request id ${res.locals.requestId} when reporting it.` }]);
  });
  return { app, dispatcher };
}
