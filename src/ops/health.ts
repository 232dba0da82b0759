import type { AddressInfo } from 'node:net';
import express, { Request, Response } from 'express';
import type { Services } from '../command';
import { pingDb } from '../db';
import { safeEqual } from '../auth/secrets';
import { withDeadline } from '../outage';
import { createHttpServer } from '../http/server';

/**
 * Each check's deadline: they run together, so /readyz answers within 2 s whatever the dependencies do. 1 s, not
 * 1.5: the answer also waits on this process's event loop, which on a loaded machine took the rest of the 2 s
 * (2,042 ms once, in CI). A database that cannot answer `SELECT 1` within a second cannot serve requests either.
 */
const CHECK_TIMEOUT_MS = 1000;

/**
 * Ready means the database answers. Redis, when configured, is checked too, but the process keeps working without
 * it (accepted mail waits in the database, limits fall back to in-process counters): `degraded`, still ready, so a
 * load balancer does not take every instance out while Redis is away.
 */
export async function readiness(services: Services): Promise<{ ready: boolean; degraded: boolean; checks: Record<string, string> }> {
  const probe = (p: () => Promise<unknown>, what: string) =>
    withDeadline(p(), CHECK_TIMEOUT_MS, what).then(
      () => 'ok',
      (err: Error) => `unreachable: ${err.message}`,
    );
  const [database, redis] = await Promise.all([
    probe(() => pingDb(services.db), 'the database'),
    services.redis ? probe(() => services.redis!.ping(), 'Redis') : Promise.resolve('not configured (in-process queue)'),
  ]);
  return { ready: database === 'ok', degraded: !!services.redis && redis !== 'ok', checks: { database, redis } };
}

/**
 * /healthz (the process answers), /readyz (its dependencies answer) and /metrics (Prometheus text). The api
 * role mounts this on its own port; worker and smtp serve it on OPS_PORT. METRICS_TOKEN, when set, guards /metrics.
 */
export function opsRouter(services: Services, role: string): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', role });
  });
  router.get('/readyz', async (_req, res) => {
    const { ready, degraded, checks } = await readiness(services);
    res.status(ready ? 200 : 503).json({ status: !ready ? 'unavailable' : degraded ? 'degraded' : 'ok', role, checks });
  });
  router.get('/metrics', async (req: Request, res: Response) => {
    const token = services.config.metricsToken;
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (token && !safeEqual(given, token)) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer').type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    try {
      const text = await services.metrics.scrape();
      res.type(services.metrics.registry.contentType).send(text);
    } catch (err) {
      // A gauge that reads the database fails while it is down: say so instead of a bare 500.
      res
        .status(503)
        .type('text/plain')
        .send(`metrics unavailable: ${(err as Error).message}\n`);
    }
  });
  return router;
}

export interface OpsListener {
  port: number;
  close(): Promise<void>;
}

/** The worker and smtp roles' small HTTP listener: only the ops routes, 404 for anything else. */
export async function startOpsListener(services: Services, role: string): Promise<OpsListener> {
  const app = express();
  app.disable('x-powered-by');
  app.use(opsRouter(services, role));
  app.use((req, res) => {
    res.status(404).json({ Errors: [{ Code: 404, Message: `No route for ${req.method} ${req.path}: this listener serves /healthz, /readyz and /metrics` }] });
  });
  // The api's bounds on slow and many clients (src/http/server.ts): this port may face a scraper's network.
  const server = createHttpServer(app, services.config, services.logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(services.config.opsPort, services.config.opsHost, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  services.logger.info('ops listening', { role, host: services.config.opsHost, port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
