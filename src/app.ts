import crypto from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import { legacyApi, legacyErrorHandler } from '../api.php';
import { commands } from '../commands';
import type { Services } from './command';
import { createDispatcher, Dispatcher } from './dispatch';
import { hardErrorHeaders, toHardError, writeV1Errors } from './errors';
import { Validator } from './validation';
import { v1Api } from './v1/router';
import { cyberpanelApi } from './dialects/cyberpanel';
import { cloudmailsApi } from './dialects/cloudmails';
import { platformApi, platformNotFound } from './dialects/platform';
import { trackingRoutes } from './tracking/routes';
import { opsRouter } from './ops/health';
import { docsRoutes } from './ops/docs';
import { tlsAskRoute } from './ops/tls-ask';
import { consoleRoutes } from './console/serve';
import { pruned } from './http/pruned-router';
import { loggedPath } from './http/logged-path';
import { closeOnUnreadBody } from './http/unread-body';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface App {
  app: express.Express;
  dispatcher: Dispatcher;
  /** Compiles each command's schema at first use; the API role calls compileAll() before it listens. */
  validator: Validator;
}

/** The express app: /api.php, the v1 routes, tracking, /healthz, /readyz, /metrics. Refuses to build if a command lacks a schema or vice versa. */
export function createApp(services: Services): App {
  const validator = new Validator(commands);
  const dispatcher = createDispatcher(services, commands, validator);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', services.config.trustProxy);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    // API replies carry session ids, keys and passwords (a GET user.login among them): no browser or proxy may keep
    // one. The console's files set their own (express.static keeps a header already set); tracking overrides it.
    if (!req.path.startsWith('/console')) res.setHeader('Cache-Control', 'no-store');
    // Every reply is what its Content-Type says: a browser must not read an API reply or a docs asset as script or
    // HTML on this origin, where the console's script-src 'self' would trust it.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      // Method, path, outcome and timing only: parameters can carry credentials and are never logged. Asked
      // first: the entry's fields (req.ip walks the proxy chain) cost even when the level drops it.
      if (services.logger.isLevelEnabled('info'))
        services.logger.info('request', {
          requestId: id,
          method: req.method,
          path: loggedPath(req),
          command: res.locals.command,
          status: res.statusCode,
          ms,
          ip: req.ip,
        });
      // The route pattern, never the raw path, so the label set stays bounded.
      const route = req.route?.path ? `${req.method} ${String(req.route.path)}` : 'unmatched';
      services.metrics.http(route, res.locals.command as string | undefined, res.statusCode, ms / 1000);
    });
    next();
  });
  app.use(closeOnUnreadBody());

  // Each router is entered only by paths it can match (src/http/pruned-router.ts); the order still decides.
  app.use(pruned(opsRouter(services, services.config.role)));
  app.use(pruned(docsRoutes()));
  app.use(pruned(tlsAskRoute(services)));

  app.use(pruned(consoleRoutes()));
  app.use(pruned(trackingRoutes(services)));
  app.use(pruned(legacyApi(services, dispatcher)));
  app.use(platformApi(services, dispatcher)); // before Octeth's v1 door: an account key picks the platform on shared paths
  app.use(pruned(v1Api(services, dispatcher)));
  app.use(pruned(cyberpanelApi(services, dispatcher)));
  app.use(pruned(cloudmailsApi(services, dispatcher)));
  app.use('/api.php', legacyErrorHandler(services));
  app.use(platformNotFound()); // an account key's request under /api/v1 that no route took

  app.use((req: Request, res: Response) => {
    writeV1Errors(res, 404, [{ Code: 404, Message: `No route for ${req.method} ${req.path}` }]);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A path parameter that is not valid percent-encoding (`/api/v1/email/%E0%A4%zz`): the client's mistake, not ours.
    if (err instanceof URIError) {
      const message = `The path ${req.path.slice(0, 200)} is not valid percent-encoding`;
      if (req.path.startsWith('/email/v1/')) {
        res.status(400).json({ success: false, error: { code: 'invalid_request', message } });
        return;
      }
      writeV1Errors(res, 400, [{ Code: 400, Message: message }]);
      return;
    }
    const failure = toHardError(err);
    if (failure) {
      writeV1Errors(res, failure.httpStatus, [{ Code: failure.code, Message: failure.message }], hardErrorHeaders(failure));
      return;
    }
    services.logger.error('unhandled exception', { requestId: res.locals.requestId, path: loggedPath(req), error: (err as Error)?.stack ?? String(err) });
    writeV1Errors(res, 500, [{ Code: 100005, Message: `Internal error. Quote request id ${res.locals.requestId} when reporting it.` }]);
  });
  return { app, dispatcher, validator };
}
