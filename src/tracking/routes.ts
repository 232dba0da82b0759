import express, { Request, Response } from 'express';
import escapeHtml from 'escape-html';
import type { Services } from '../command';
import { recordEvents } from '../events/record';
import { markUnsubscribed } from '../lists/api';
import { addSuppression } from '../suppression/suppressions';
import { judgeHit } from './machine';
import { readToken, trackingSecrets } from './tokens';
import { cachedFieldsOf, renderTemplatedLink } from './templated-link';
import { composeHosts } from '../domains/names';

/** The 1×1 transparent GIF. */
export const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const NO_CACHE = {
  'Cache-Control': 'no-store, no-cache, must-revalidate, private, max-age=0',
  Pragma: 'no-cache',
  Expires: '0',
};

/**
 * The pages and redirects: nothing but their own inline style and a form posting back here; never framed (the
 * unsubscribe button), never sniffed, and no Referer, so a click's token does not reach the site it leads to.
 */
const PAGE = {
  ...NO_CACHE,
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

interface Tracked {
  id: number;
  message_id: string;
  domain_id: number;
  user_id: number;
  recipient: string;
  finished_at: number | null;
  status: string;
  first_opened_at: number | null;
  first_clicked_at: number | null;
}

/**
 * Repeat opens and clicks one delivery may record a minute. A recipient's first open and first click are always
 * recorded; past them, a pixel or link replayed in a loop (by anyone the mail reaches) would write an event, its
 * rollups and a webhook call to the tenant per request. Hits past it are still served, only not recorded.
 */
const REPEAT_HITS_PER_MINUTE = 20;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head><body>${body}</body></html>`;
}

/**
 * Tracking endpoints on the api role: GET /t/o/<token>.gif (open pixel), GET /t/c/<token> (click: 302 to the
 * stored link after the signature check — a bad token never redirects), GET/HEAD /t/u/<token> (unsubscribe
 * confirmation page), POST /t/u/<token> (RFC 8058 one-click unsubscribe).
 */
export function trackingRoutes(services: Services): express.Router {
  const router = express.Router();
  const secrets = trackingSecrets(services.config);
  const { db, config, logger } = services;
  const fieldsOf = cachedFieldsOf(db, { max: 1000, ttlMs: 10 * 60_000 });

  async function deliveryOf(trackId: string): Promise<Tracked | undefined> {
    return db('deliveries')
      .where({ track_id: trackId })
      .first('id', 'message_id', 'domain_id', 'user_id', 'recipient', 'finished_at', 'status', 'first_opened_at', 'first_clicked_at');
  }

  const repeatHits = services.limits.limit('track-repeat-hits', REPEAT_HITS_PER_MINUTE, 60);
  const withinBudget = async (d: Tracked) => (await repeatHits.consume(String(d.id))).allowed;

  function hitData(req: Request, d: Tracked, now: number) {
    const ua = String(req.headers['user-agent'] ?? '').slice(0, 500);
    const deliveredAt = Number(d.finished_at) || null; // 0 (NULL before 20270106000100): not finished
    const verdict = judgeHit(ua, d.status === 'delivered' ? deliveredAt : null, now, config.machineHitSeconds);
    return { recipient: d.recipient, ip: req.ip ?? '', user_agent: ua, machine: verdict.machine, machine_reason: verdict.reason, proxy: verdict.proxy };
  }

  /**
   * Records an open (and, for a click, the click); `unique` marks the first of each per delivery. A first open or
   * click is always recorded, a repeat only within the delivery's budget. Which hit is first is decided by the
   * conditional UPDATE, not by the row read before: hits that arrive together all read "never opened", and each was
   * recorded as a first (80 pixel requests at once made 80 events and 80 webhook calls).
   */
  async function recordHit(req: Request, d: Tracked, kind: 'opened' | 'clicked', data: Record<string, unknown>, now: number) {
    // A HEAD (express answers it with the GET route) is a link scanner or prefetcher checking the URL, not a reader.
    if (req.method === 'HEAD') return;
    const seen = (kind === 'opened' ? d.first_opened_at : d.first_clicked_at) !== null;
    // A repeat the read already shows spends its budget before any write; past the budget nothing is written.
    if (seen && !(await withinBudget(d))) return;
    await db.transaction(async (trx) => {
      const base = { message_id: d.message_id, delivery_id: Number(d.id), domain_id: Number(d.domain_id), user_id: Number(d.user_id), created_at: now };
      const firstOpen = (await trx('deliveries').where({ id: d.id }).whereNull('first_opened_at').update({ first_opened_at: now })) > 0;
      const firstClick =
        kind === 'clicked' && (await trx('deliveries').where({ id: d.id }).whereNull('first_clicked_at').update({ first_clicked_at: now })) > 0;
      // The read said first, but another hit was (they arrived together): a repeat after all, within the budget or not at all.
      if (!seen && !(kind === 'opened' ? firstOpen : firstClick) && !(await withinBudget(d))) return;
      const events = [];
      if (kind === 'opened') events.push({ ...base, type: 'opened', data: { ...data, unique: firstOpen } });
      else {
        // A click proves the mail was opened: the first click without an open records that open too.
        if (firstOpen) events.push({ ...base, type: 'opened', data: { ...data, unique: true, implied_by_click: true } });
        events.push({ ...base, type: 'clicked', data: { ...data, unique: firstClick } });
      }
      await recordEvents(trx, events);
    });
  }

  router.get('/t/o/:file', async (req: Request, res: Response) => {
    res.set({ ...NO_CACHE, 'Content-Type': 'image/gif', 'X-Content-Type-Options': 'nosniff' });
    const token = String(req.params.file).replace(/\.gif$/, '');
    const t = readToken(secrets, 'o', token);
    try {
      const d = t ? await deliveryOf(t.trackId) : undefined;
      if (d) {
        const now = Date.now();
        await recordHit(req, d, 'opened', hitData(req, d, now), now);
      }
    } catch (err) {
      logger.error('open tracking failed', { error: (err as Error).message });
    }
    // The pixel is served whatever happened: a mail client must never show a broken image.
    res.status(200).send(PIXEL);
  });

  /** TRACKING_BASE_URL's host name as req.hostname gives it (no port); null: each domain's own tracking host. */
  const baseHost = config.trackingBaseUrl ? new URL(config.trackingBaseUrl).hostname.toLowerCase() : null;

  /**
   * Whether the click came to a host its link may be served on: TRACKING_BASE_URL's, or the delivery's own domain's
   * tracking host (links issued before the operator set TRACKING_BASE_URL). Any other host would let one tenant's
   * signed link (to a page of its choosing) redirect from every other tenant's branded tracking host, or from the
   * API and console's own origin: an open redirect under their names. The per-domain CNAMEs still point at the
   * install with TRACKING_BASE_URL set, so checking only when it is unset left exactly that open.
   */
  async function servedHere(req: Request, d: Tracked): Promise<boolean> {
    const host = (req.hostname ?? '').toLowerCase();
    if (baseHost !== null && host === baseHost) return true;
    const row = await db('sender_domains').where({ id: d.domain_id }).first('domain', 'subdomain', 'track_prefix', 'track_merge', 'track_prefix_disabled');
    return !!row && composeHosts(row, config).trackingHost === host;
  }

  router.get('/t/c/:token', async (req: Request, res: Response) => {
    res.set(PAGE);
    const t = readToken(secrets, 'c', String(req.params.token));
    const d = t ? await deliveryOf(t.trackId) : undefined;
    const link: { url: string; templated?: unknown } | undefined = d
      ? await db('tracked_links').where({ message_id: d.message_id, idx: t!.idx }).first('url', 'templated')
      : undefined;
    // A link whose href held personalisation tags is stored as written: the clicking recipient's values fill it in.
    if (d && link && Number(link.templated)) link.url = (await renderTemplatedLink(db, config, fieldsOf, d, t!.trackId, link.url)) ?? '';
    if (!d || !link || !/^https?:\/\//i.test(link.url) || !(await servedHere(req, d))) {
      res.status(404).type('html').send(page('Link not found', '<h1>Link not found</h1><p>This link is not valid.</p>'));
      return;
    }
    const now = Date.now();
    try {
      await recordHit(req, d, 'clicked', { ...hitData(req, d, now), url: link.url }, now);
    } catch (err) {
      logger.error('click tracking failed', { error: (err as Error).message });
    }
    res.redirect(302, link.url);
  });

  async function unsubscribeTarget(req: Request): Promise<Tracked | undefined> {
    const t = readToken(secrets, 'u', String(req.params.token));
    return t ? deliveryOf(t.trackId) : undefined;
  }

  const notFound = (res: Response) =>
    res.status(404).type('html').send(page('Link not found', '<h1>Link not found</h1><p>This unsubscribe link is not valid.</p>'));

  router.get('/t/u/:token', async (req: Request, res: Response) => {
    res.set(PAGE);
    const d = await unsubscribeTarget(req);
    if (!d) return void notFound(res);
    const domain = await db('sender_domains').where({ id: d.domain_id }).first('domain');
    res
      .type('html')
      .send(
        page(
          'Unsubscribe',
          `<h1>Unsubscribe</h1><p>Stop mail from <strong>${escapeHtml(domain?.domain ?? '')}</strong> to <strong>${escapeHtml(d.recipient)}</strong>?</p>` +
            `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
        ),
      );
  });

  router.post('/t/u/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req: Request, res: Response) => {
    res.set(PAGE);
    const d = await unsubscribeTarget(req);
    if (!d) return void notFound(res);
    const now = Date.now();
    await db.transaction(async (trx) => {
      const added = await addSuppression(trx, Number(d.domain_id), d.recipient, 'unsubscribe', `unsubscribed through message ${d.message_id}`);
      const message = await trx('messages').where({ id: d.message_id }).first('list_id', 'subscriber_id');
      let listUpdated = false;
      if (message?.list_id && message?.subscriber_id) listUpdated = await markUnsubscribed(trx, Number(message.list_id), Number(message.subscriber_id), now);
      // One event per actual change: repeating the POST (mail clients retry) records nothing new.
      if (added || listUpdated) {
        await recordEvents(trx, [
          {
            message_id: d.message_id,
            delivery_id: Number(d.id),
            domain_id: Number(d.domain_id),
            user_id: Number(d.user_id),
            type: 'unsubscribed',
            created_at: now,
            data: {
              recipient: d.recipient,
              ip: req.ip ?? '',
              user_agent: String(req.headers['user-agent'] ?? '').slice(0, 500),
              one_click: String((req.body as Record<string, unknown> | undefined)?.['List-Unsubscribe'] ?? '').toLowerCase() === 'one-click',
              list_id: message?.list_id ?? null,
            },
          },
        ]);
      }
    });
    res
      .status(200)
      .type('html')
      .send(page('Unsubscribed', `<h1>You are unsubscribed</h1><p>${escapeHtml(d.recipient)} will not receive this mail again.</p>`));
  });

  router.all(['/t/o/:file', '/t/c/:token', '/t/u/:token'], (_req: Request, res: Response) => {
    res.status(405).set('Allow', 'GET, HEAD, POST').type('text').send('Method Not Allowed');
  });

  return router;
}
