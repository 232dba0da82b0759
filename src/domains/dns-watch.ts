import crypto from 'node:crypto';
import os from 'node:os';
import type { Services } from '../command';
import { passLoop } from '../pass-loop';
import { assess, saveAssessment } from './dns-health';
import { recordDomainEvents } from './domain-events';
import { DomainRow, parseRecords, recordsFor, STATUS } from './domains';
import { formatTime } from '../auth/users';
import { leaseOwner } from '../lease-owner';

/** How long a claimed check may take before another worker may take the domain over (DNS lookups time out well before). */
const CLAIM_MS = 5 * 60_000;
/** Domains checked per pass; the next pass (a minute later at most) takes the rest. */
const BATCH = 50;
const CONCURRENCY = 5;

export interface DnsWatch {
  /** One pass at `now` (a test's clock): old keys past their time removed, then every due domain checked once. */
  runOnce(now?: number): Promise<{ checked: number; keysRemoved: number }>;
  stop(): Promise<void>;
}

/**
 * Re-verifies Enabled domains (and those the watch sent back to Approval Pending, so a mended record brings them
 * back) every DNS_WATCH_INTERVAL_SECONDS, run by the worker role. With several workers each domain is checked by
 * one: a worker claims it with a conditional UPDATE that pushes `dns_next_check_at` a few minutes ahead (the claim's
 * lease, owned by a token), checks, and writes the outcome only while it still holds the claim. A worker that dies
 * mid-check leaves a claim that expires, and another takes the domain. What a check means is src/domains/dns-health.ts.
 */
export function createDnsWatch(services: Services, opts: { clock?: () => number; timer?: boolean } = {}): DnsWatch {
  const { db, config, logger } = services;
  const clock = opts.clock ?? Date.now;
  const intervalMs = config.dnsWatchIntervalSeconds * 1000;
  const me = leaseOwner(os.hostname(), process.pid, 'dns');

  /** Old DKIM keys whose time is up: removed with their record from the list (the customer may delete it from DNS). */
  async function removeOldKeys(now: number): Promise<number> {
    const rows: DomainRow[] = await db('sender_domains').whereNotNull('dkim_previous_remove_at').where('dkim_previous_remove_at', '<=', now).limit(BATCH);
    let removed = 0;
    for (const row of rows) {
      const records = parseRecords(row).filter((r) => r.purpose !== 'dkim-previous');
      const saved = await db.transaction(async (trx) => {
        const n = await trx('sender_domains')
          .where({ id: row.id, dkim_previous_selector: row.dkim_previous_selector })
          .update({
            dkim_previous_selector: null,
            dkim_previous_private_key_enc: null,
            dkim_previous_public_key: null,
            dkim_previous_remove_at: null,
            dns_records: JSON.stringify(records),
            updated_at: now,
          });
        if (n)
          await recordDomainEvents(
            trx,
            row,
            [{ type: 'domain.dkim_key_removed', data: { selector: row.dkim_previous_selector, active_selector: row.dkim_selector } }],
            now,
          );
        return n > 0;
      });
      if (saved) {
        removed += 1;
        services.metrics.domainEvent('domain.dkim_key_removed');
      }
    }
    return removed;
  }

  /** Claims one due domain; false when another worker holds it or it is not due. */
  async function claim(id: number, now: number, token: string): Promise<boolean> {
    const n = await db('sender_domains')
      .where({ id })
      .where((q) => q.whereNull('dns_next_check_at').orWhere('dns_next_check_at', '<=', now))
      .update({ dns_next_check_at: now + CLAIM_MS, dns_check_owner: token });
    return n > 0;
  }

  async function check(id: number, now: number): Promise<boolean> {
    const token = `${me}:${crypto.randomBytes(4).toString('hex')}`;
    if (!(await claim(id, now, token))) return false;
    const row: DomainRow | undefined = await db('sender_domains').where({ id, dns_check_owner: token }).first();
    if (!row) return false;
    const checked = await services.dns.verify(recordsFor(row, config));
    const unsure = checked.filter((r) => r.required && r.inconclusive).map((r) => r.host);
    if (unsure.length) {
      // Our resolver could not tell (timeout, SERVFAIL): such a check proves nothing either way, so it changes no
      // failure, status or key; it is tried again within the hour. A resolver outage never deactivates domains.
      await db('sender_domains')
        .where({ id, dns_check_owner: token })
        .update({ dns_next_check_at: now + Math.min(intervalMs, 3_600_000), dns_check_owner: null });
      logger.warn('dns watch: lookups got no answer; checking again later', { domainId: id, domain: row.domain, hosts: unsure });
      services.metrics.dnsCheck('inconclusive');
      return true;
    }
    const at = now;
    const a = assess(row, checked, at, 'watch', config);
    a.update.dns_checked_at = at;
    a.update.dns_next_check_at = at + intervalMs;
    a.update.dns_check_owner = null;
    const saved = await saveAssessment(db, row, a, at, config.deleteChunkRows, { dns_check_owner: token });
    if (saved) services.metrics.dnsCheck(a.update.dns_failures ? 'failing' : 'ok');
    for (const e of saved ? a.events : []) {
      services.metrics.domainEvent(e.type);
      const fields = {
        domainId: Number(row.id),
        domain: row.domain,
        status: a.status,
        failingSince: formatTime((a.update.dns_failed_since as number | null) ?? null),
      };
      if (e.type === 'domain.dns_restored' || e.type === 'domain.dkim_rotated') logger.info(e.type, fields);
      else logger.warn(e.type, fields);
    }
    return saved;
  }

  async function pass(now: number): Promise<{ checked: number; keysRemoved: number }> {
    const keysRemoved = await removeOldKeys(now);
    if (intervalMs <= 0) return { checked: 0, keysRemoved };
    const due: { id: number }[] = await db('sender_domains')
      .where((q) => q.where('status', STATUS.enabled).orWhere((q2) => q2.where('status', STATUS.pending).whereNotNull('dns_failed_since')))
      .where((q) => q.whereNull('dns_next_check_at').orWhere('dns_next_check_at', '<=', now))
      // A domain being deleted is never saved (saveAssessment), so its claim would never be given back: not due.
      .whereNull('deleting_at')
      .orderBy('dns_next_check_at')
      .limit(BATCH)
      .select('id');
    let checked = 0;
    let i = 0;
    const lane = async () => {
      while (i < due.length) {
        const id = Number(due[i++].id);
        try {
          if (await check(id, now)) checked += 1;
        } catch (err) {
          // The claim expires and the domain is checked again then.
          logger.warn('dns watch check failed', { domainId: id, error: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, lane));
    return { checked, keysRemoved };
  }

  // Passes a minute apart at most (sooner with a shorter interval): each finds the domains that came due.
  const every = Math.max(1000, Math.min(60_000, intervalMs || 60_000));
  return passLoop(pass, {
    clock,
    timer: opts.timer !== false,
    firstMs: Math.min(every, 5000),
    everyMs: every,
    onError: (err) => logger.warn('dns watch pass failed', { error: err.message }),
  });
}
