import type { Knex } from 'knex';
import type { Config } from '../config';
import { formatTime } from '../auth/users';
import type { DnsRecord, RecordPurpose } from './dns-records';
import { DomainEvent, recordDomainEvents } from './domain-events';
import { DnsFailure, DomainRow, parseFailures, STATUS } from './domains';
import { restoreSuppressions } from './retained';
import { isDeleting } from './deleting';

/**
 * What one verification of a domain's records means, shared by verifydomain (`manual`) and the DNS watch (`watch`).
 * docs/dns-watch-and-dkim-rotation.md tells the rules; in short:
 * - a rotation's new DKIM record that verifies makes its key the signing key (the old one is kept for a while);
 * - a domain that is or was Enabled tracks each broken required record with since when; a newly broken one is a
 *   `domain.dns_failed` event, a mended one `domain.dns_restored`;
 * - manual: broken → Approval Pending now (the caller asked); watch: only once the oldest failure is older than
 *   the grace period (`domain.deactivated`). All required records right → Enabled again.
 */
export type VerifyMode = 'manual' | 'watch';

export interface Assessment {
  status: string;
  results: DnsRecord[];
  /** Columns to write (status, records, failures, a DKIM switch). */
  update: Record<string, unknown>;
  events: DomainEvent[];
  /** The selector the switch replaced, when one happened (the write is conditional on it). */
  switchedFrom: string | null;
}

const ORDER: RecordPurpose[] = ['mfrom', 'dkim', 'tracking', 'dmarc', 'dkim-next', 'dkim-previous'];

function describe(f: DnsFailure, graceEnd: number | null): Record<string, unknown> {
  return {
    host: f.host,
    type: f.type,
    purpose: f.purpose,
    since: formatTime(f.since),
    found: f.found,
    ...(graceEnd === null ? {} : { grace_ends_at: formatTime(graceEnd) }),
  };
}

export function assess(
  row: DomainRow,
  checked: DnsRecord[],
  now: number,
  mode: VerifyMode,
  config: Pick<Config, 'dnsFailureGraceHours' | 'dkimPreviousKeyHours'>,
): Assessment {
  const update: Record<string, unknown> = {};
  const events: DomainEvent[] = [];
  let results = checked;
  let switchedFrom: string | null = null;

  const next = results.find((r) => r.purpose === 'dkim-next');
  if (row.dkim_next_selector && row.dkim_next_private_key_enc && row.dkim_next_public_key && next?.ok) {
    switchedFrom = row.dkim_selector;
    const removeAt = now + config.dkimPreviousKeyHours * 3_600_000;
    Object.assign(update, {
      dkim_selector: row.dkim_next_selector,
      dkim_private_key_enc: row.dkim_next_private_key_enc,
      dkim_public_key: row.dkim_next_public_key,
      dkim_previous_selector: row.dkim_selector,
      dkim_previous_private_key_enc: row.dkim_private_key_enc,
      dkim_previous_public_key: row.dkim_public_key,
      dkim_previous_remove_at: removeAt,
      dkim_next_selector: null,
      dkim_next_private_key_enc: null,
      dkim_next_public_key: null,
      dkim_next_created_at: null,
    });
    // The new key's record is now the required one; the old key's stays listed (not required) until removed.
    results = results
      .filter((r) => r.purpose !== 'dkim-previous')
      .map((r) =>
        r.purpose === 'dkim'
          ? { ...r, purpose: 'dkim-previous' as const, required: false }
          : r.purpose === 'dkim-next'
            ? { ...r, purpose: 'dkim' as const, required: true }
            : r,
      )
      .sort((a, b) => ORDER.indexOf(a.purpose) - ORDER.indexOf(b.purpose));
    events.push({
      type: 'domain.dkim_rotated',
      data: { selector: row.dkim_next_selector, previous_selector: row.dkim_selector, previous_removed_at: formatTime(removeAt) },
    });
  }

  const broken = results.filter((r) => r.required && !r.ok);
  const before = parseFailures(row);
  let status = row.status;
  const tracked = row.status === STATUS.enabled || (row.status === STATUS.pending && before.length > 0);
  if (tracked) {
    const sinceOf = new Map(before.map((f) => [f.host, Number(f.since)]));
    const failures: DnsFailure[] = broken.map((r) => ({
      host: r.host,
      type: r.type,
      purpose: r.purpose,
      since: sinceOf.get(r.host) ?? now,
      found: r.found ?? [],
    }));
    const failingSince = failures.length ? Math.min(...failures.map((f) => f.since)) : null;
    const graceEnd = failingSince === null ? null : failingSince + config.dnsFailureGraceHours * 3_600_000;
    const newly = failures.filter((f) => !sinceOf.has(f.host));
    const mended = before.filter((f) => !broken.some((r) => r.host === f.host));
    update.dns_failures = failures.length ? JSON.stringify(failures) : null;
    update.dns_failed_since = failingSince;
    if (!failures.length) status = STATUS.enabled;
    else if (mode === 'manual' || (graceEnd !== null && graceEnd <= now)) status = STATUS.pending;
    if (newly.length) {
      events.push({
        type: 'domain.dns_failed',
        data: { status, records: newly.map((f) => describe(f, graceEnd)), failing: failures.map((f) => describe(f, graceEnd)) },
      });
    }
    if (mended.length)
      events.push({
        type: 'domain.dns_restored',
        data: { status, records: mended.map((f) => ({ host: f.host, type: f.type, purpose: f.purpose })), still_failing: failures.length },
      });
    if (row.status === STATUS.enabled && status === STATUS.pending) {
      events.push({
        type: 'domain.deactivated',
        data: { status, reason: mode === 'manual' ? 'verification' : 'grace_expired', failing: failures.map((f) => describe(f, graceEnd)) },
      });
    }
  } else if (row.status === STATUS.pending) {
    status = broken.length ? STATUS.pending : STATUS.enabled;
  }
  update.status = status;
  update.dns_records = JSON.stringify(results);
  update.last_verified_at = now;
  update.updated_at = now;
  return { status, results, update, events, switchedFrom };
}

/**
 * Writes an assessment with its events and webhook calls in one transaction. `where` narrows the write (the
 * owner's id, the watch's claim); a DKIM switch also requires the row to still wait for that same key, so two
 * verifications never switch twice. The row must also be as it was read (its status and updated_at): the lookups
 * take up to seconds, and a change meanwhile (the owner disabling the domain, new hosts with new records, a
 * rotation) would be undone by writing back an assessment of the old row. Returns false when the row was not
 * written (deleted, being deleted, changed, or taken by another). A domain about to be switched on first gets back
 * what its name kept from a deletion (retained.ts: a restore cut short is finished here, a run of `runRows` at a
 * time), so it never sends without its suppression list.
 */
export async function saveAssessment(
  db: Knex,
  row: DomainRow,
  a: Assessment,
  now: number,
  runRows: number,
  where: Record<string, unknown> = {},
): Promise<boolean> {
  // A domain being deleted is never switched on (src/domains/deleting.ts), nor gets its kept list back into the purge.
  if (isDeleting(row)) return false;
  if (a.status === STATUS.enabled && row.status !== STATUS.enabled) await restoreSuppressions(db, runRows, row);
  return db.transaction(async (trx) => {
    const q = trx('sender_domains')
      .where({ id: row.id, status: row.status, updated_at: row.updated_at, ...where })
      .whereNull('deleting_at');
    if (a.switchedFrom !== null) q.where({ dkim_selector: a.switchedFrom, dkim_next_selector: row.dkim_next_selector });
    const n = await q.update(a.update);
    if (!n) return false;
    await recordDomainEvents(trx, row, a.events, now);
    return true;
  });
}
