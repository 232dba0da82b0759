import express from 'express';
import type { Services } from '../command';
import { STATUS } from '../domains/domains';
import { composeHosts, normalizeDomain } from '../domains/names';

/** Whether `host` is the tracking host of an Enabled sender domain (or of TRACKING_BASE_URL). */
export async function isTrackingHost(services: Services, host: string): Promise<boolean> {
  const { config, db } = services;
  if (config.trackingBaseUrl && new URL(config.trackingBaseUrl).hostname === host) return true;
  // The sender domain is a proper suffix of its tracking host: look up each candidate at once.
  const labels = host.split('.');
  const suffixes = labels.slice(1, -1).map((_, i) => labels.slice(i + 1).join('.'));
  if (!suffixes.length) return false;
  const rows = await db('sender_domains')
    .whereIn('domain', suffixes)
    .where({ status: STATUS.enabled })
    .select('domain', 'subdomain', 'track_prefix', 'track_merge', 'track_prefix_disabled');
  return rows.some((row) => composeHosts(row, config).trackingHost === host);
}

/**
 * `GET /tls/ask?domain=<host>`: a TLS proxy's on-demand permission check (Caddy's `on_demand_tls ask`). 200 only
 * for tracking hosts Postern serves, so nobody can make the proxy fetch certificates for names of their choosing.
 */
export function tlsAskRoute(services: Services): express.Router {
  const router = express.Router();
  router.get('/tls/ask', async (req, res, next) => {
    try {
      const host = typeof req.query.domain === 'string' ? normalizeDomain(req.query.domain) : null;
      const ok = host !== null && (await isTrackingHost(services, host));
      res
        .status(ok ? 200 : 404)
        .type('text/plain')
        .send(ok ? 'ok\n' : 'not a tracking host of this install\n');
    } catch (err) {
      next(err);
    }
  });
  return router;
}
