import crypto from 'node:crypto';
import os from 'node:os';
import type { Services } from '../command';
import { decrypt } from '../auth/secrets';
import type { DomainRow } from '../domains/domains';
import { composeHosts } from '../domains/names';
import { addSuppression } from '../suppression/suppressions';
import { classifyReply, retryHintSeconds } from './classify';
import { DELIVERY_QUEUE, DeliveryJob, enqueueDeliveries } from './enqueue';
import { Dkim, Transports } from './transports';
import { verpAddress } from './verp';
import { recordEvents } from '../events/record';

const PENDING = ['queued', 'scheduled', 'deferred', 'sending'];

export function verpSecret(services: Services): Buffer {
  return crypto.createHmac('sha256', services.config.encryptionKey!).update('postern-verp').digest();
}


export interface DeliveryWorker {
  deliver(deliveryId: number): Promise<void>;
  sweep(graceMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Sends deliveries: lease the row (so no two workers send it), DKIM-sign, hand it over with a VERP return
 * path, then record the outcome. A crashed worker's lease expires and the sweeper re-enqueues the row.
 */
export function createDeliveryWorker(services: Services): DeliveryWorker {
  const { db, config, logger } = services;
  const owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  const transports = new Transports(config);
  const secret = verpSecret(services);
  const keys = new Map<number, { key: string; until: number }>();

  const domains = new Map<number, { row: DomainRow | undefined; until: number }>();
  /** Domain rows change rarely: each worker rereads one at most every 10 seconds. */
  async function domainOf(id: number): Promise<DomainRow | undefined> {
    const hit = domains.get(id);
    if (hit && hit.until > Date.now()) return hit.row;
    const row: DomainRow | undefined = await db('sender_domains').where({ id }).first();
    domains.set(id, { row, until: Date.now() + 10_000 });
    return row;
  }

  function dkimFor(domain: DomainRow): Dkim | null {
    if (!config.dkimSigning) return null;
    let k = keys.get(domain.id);
    if (!k || k.until < Date.now()) {
      k = { key: decrypt(domain.dkim_private_key_enc, config.encryptionKey!), until: Date.now() + 300_000 };
      keys.set(domain.id, k);
    }
    return { domainName: domain.domain, keySelector: domain.dkim_selector, privateKey: k.key };
  }

  async function deliver(deliveryId: number): Promise<void> {
    const now = Date.now();
    const leased = await db('deliveries')
      .where({ id: deliveryId })
      .whereIn('status', PENDING)
      .where('next_attempt_at', '<=', now + 1000)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .update({ status: 'sending', lease_until: now + config.leaseSeconds * 1000, lease_owner: owner, updated_at: now });
    if (!leased) return; // done, cancelled, not yet due, or another worker holds it
    const d = await db('deliveries').where({ id: deliveryId }).first();
    // A personalised or tracked copy rides on its delivery row; otherwise the message's MIME is sent.
    const own = d.mime ?? null;
    const [message, domain] = await Promise.all([
      own ? db('messages').where({ id: d.message_id }).first('id') : db('messages').where({ id: d.message_id }).first('mime'),
      domainOf(Number(d.domain_id)),
    ]);
    if (!message || !domain) {
      await db('deliveries').where({ id: deliveryId }).update({ status: 'failed', lease_until: null, finished_at: now, last_reply: 'message or domain no longer exists', updated_at: now });
      return;
    }
    const from = verpAddress(secret, Number(d.id), composeHosts(domain, config).mfromHost);
    const body = own ?? message.mime;
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const outcome = await transports.send({ from, to: d.recipient }, raw, dkimFor(domain));
    const done = Date.now();
    const attempts = Number(d.attempts) + 1;
    // Status, event and suppression land together or not at all.
    const settle = (update: Record<string, unknown>, type: string, data: Record<string, unknown>, suppress?: string) =>
      db.transaction(async (trx) => {
        const n = await trx('deliveries').where({ id: deliveryId, lease_owner: owner }).update({ ...update, attempts, lease_until: null, updated_at: done });
        if (!n) return; // our lease was taken over (it expired mid-send): the other worker records the outcome
        await recordEvents(trx, [{
          message_id: d.message_id, delivery_id: Number(d.id), domain_id: Number(d.domain_id), user_id: Number(d.user_id), type, created_at: done,
          data: { recipient: d.recipient, attempts, seconds: Math.max(0, Math.round((done - Number(d.created_at)) / 1000)), ...data },
        }]);
        if (suppress) await addSuppression(trx, d.domain_id, d.recipient, 'hard_bounce', suppress);
      });

    if (outcome.ok) {
      await settle({ status: 'delivered', last_reply: outcome.response, finished_at: done, bounce_class: null }, 'delivered', { smtp_reply: outcome.response });
      return;
    }
    const verdict = classifyReply(outcome.code, outcome.response);
    const tooOld = done - Number(d.created_at) >= config.deliveryMaxAgeSeconds * 1000;
    if (verdict.permanent || tooOld) {
      const status = verdict.permanent ? 'bounced' : 'failed';
      const suppress = verdict.permanent && verdict.class === 'hard' ? outcome.response : undefined;
      await settle({ status, last_reply: outcome.response, bounce_class: verdict.class, finished_at: done }, status, { smtp_reply: outcome.response, bounce_class: verdict.class }, suppress);
      return;
    }
    const schedule = config.retryScheduleSeconds;
    const planned = schedule[Math.min(attempts - 1, schedule.length - 1)];
    const wait = Math.min(Math.max(planned, retryHintSeconds(outcome.response) ?? 0), 8 * 3600) * 1000;
    const next = done + wait;
    await settle({ status: 'deferred', next_attempt_at: next, last_reply: outcome.response, bounce_class: verdict.class }, 'deferred', { smtp_reply: outcome.response, bounce_class: verdict.class, next_attempt_at: Math.floor(next / 1000) });
    await enqueueDeliveries(services, [{ id: Number(d.id), attempts, runAt: next }]);
  }

  /** Re-enqueues work that is due (by `graceMs`) but unleased: its job was lost (queue restart) or its worker died. */
  async function sweep(graceMs = config.sweepGraceSeconds * 1000): Promise<number> {
    const now = Date.now();
    const rows = await db('deliveries')
      .whereIn('status', PENDING)
      .where('next_attempt_at', '<=', now - graceMs)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .orderBy('next_attempt_at')
      .limit(5000)
      .select('id', 'attempts', 'next_attempt_at', 'lease_until');
    await enqueueDeliveries(
      services,
      rows.map((r: { id: number; attempts: number; lease_until: number | null }) => ({
        id: Number(r.id),
        attempts: Number(r.attempts),
        runAt: now,
        retake: r.lease_until === null ? undefined : Number(r.lease_until),
      })),
    );
    return rows.length;
  }

  const queue = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  queue.process(
    async (job) => {
      try {
        await deliver(job.data.deliveryId);
      } catch (err) {
        // Never fail the job (a failed job id would block re-adding it); the lease expires and the sweeper retries.
        logger.error('delivery attempt crashed', { deliveryId: job.data.deliveryId, error: (err as Error).stack });
      }
    },
    { concurrency: config.deliveryConcurrency },
  );
  let sweeping = false;
  const runSweep = () => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .then((n) => n && logger.info('sweeper re-enqueued deliveries', { count: n }))
      .catch((err) => logger.warn('sweep failed', { error: (err as Error).message }))
      .finally(() => (sweeping = false));
  };
  const timer = setInterval(runSweep, config.sweepIntervalSeconds * 1000);
  timer.unref();
  // At start, take over whatever was pending (an in-process queue starts empty).
  setImmediate(() => {
    sweeping = true;
    sweep(0)
      .catch((err) => logger.warn('startup sweep failed', { error: (err as Error).message }))
      .finally(() => (sweeping = false));
  });

  return {
    deliver,
    sweep,
    async stop() {
      clearInterval(timer);
      transports.close();
    },
  };
}
