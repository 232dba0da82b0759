/**
 * The life of a sender domain, shared by both command families that manage one: Octeth's `emailgateway.*domain*`
 * and the newer `user.senderdomain.*` (Postern has one kind of sender domain; both families see the same rows).
 */
import type { Knex } from 'knex';
import type { CommandContext } from '../command';
import { isUniqueViolation } from '../db';
import { CommandError, HardError, TEMPORARILY_UNAVAILABLE } from '../errors';
import { lockUserRow } from '../auth/users';
import { newDomainFields } from './create';
import type { DnsRecord } from './dns-records';
import { assess, saveAssessment } from './dns-health';
import { DomainRow, findOwnedDomain, recordsFor, STATUS } from './domains';
import { composeHosts, HostSettings, hostsAreValid } from './names';
import { restoreSuppressions, retainSuppressions } from './retained';
import { retainHours } from './retained-hours';
import { purgeDomainRows } from './purge';
import { isDeleting } from './deleting';

/** Why a create or update could not happen; each family maps it to its own code. */
export class DomainError extends Error {
  constructor(readonly reason: 'taken' | 'limit' | 'hosts' | 'gone' | 'deleting') {
    super(`sender domain: ${reason}`);
  }
}

export const TAKEN_TEXT = 'Domain is already registered by another account';

/** A domain started over forgets the watch's findings and any rotation (its new key replaces them all). */
const FRESH_WATCH = {
  dns_next_check_at: null,
  dns_check_owner: null,
  dns_checked_at: null,
  dns_failed_since: null,
  dns_failures: null,
  dkim_next_selector: null,
  dkim_next_private_key_enc: null,
  dkim_next_public_key: null,
  dkim_next_created_at: null,
  dkim_previous_selector: null,
  dkim_previous_private_key_enc: null,
  dkim_previous_public_key: null,
  dkim_previous_remove_at: null,
};

type Hosts = Omit<HostSettings, 'track_prefix_disabled'> & { track_prefix_disabled: boolean };

/**
 * Registers a domain (normalised name and host settings already read). Re-adding one's own domain starts it over:
 * new key, new records, Approval Pending (an admin-set Disabled or Suspended stays), same id. Throws DomainError
 * taken | limit | hosts | deleting (its own name, while a deletion of it is unfinished: src/domains/deleting.ts).
 */
export async function createDomain(
  ctx: CommandContext,
  settings: Hosts,
  options: { link_tracking?: boolean; open_tracking?: boolean; unsubscribe_link?: boolean } = {},
): Promise<number> {
  const user = ctx.user!;
  const { domain } = settings;
  if (!hostsAreValid(composeHosts(settings, ctx.config))) throw new DomainError('hosts');
  // Cheap refusal before the (costly) key generation; the transaction below checks again.
  const owner = await ctx.db('sender_domains').where({ domain }).first('user_id', 'deleting_at');
  if (owner && Number(owner.user_id) !== user.id) throw new DomainError('taken');
  if (owner && isDeleting(owner)) throw new DomainError('deleting');
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const fields = { ...settings, ...given, ...(await newDomainFields(ctx, settings)) };
  const now = Date.now();
  let id: number;
  try {
    id = await ctx.db.transaction(async (trx) => {
      await lockUserRow(trx, user.id);
      const existing = await trx('sender_domains').where({ domain }).first('id', 'user_id', 'status', 'deleting_at');
      if (existing && Number(existing.user_id) !== user.id) throw new DomainError('taken');
      // Starting it over would restore its kept list into the list being purged, and a later verification switch it on.
      if (existing && isDeleting(existing)) throw new DomainError('deleting');
      if (existing) {
        // An admin's Disabled or Suspended stays (as in updateDomain): re-adding must not be a way around it.
        const held = existing.status === STATUS.disabled || existing.status === STATUS.suspended;
        // The mark in the statement too: the account's lock above keeps out the deletions there are (each takes it
        // before it marks), the statement any mark written without it.
        const n = await trx('sender_domains')
          .where({ id: existing.id })
          .whereNull('deleting_at')
          .update({ ...fields, ...FRESH_WATCH, status: held ? existing.status : STATUS.pending, last_verified_at: null, updated_at: now });
        if (!n) throw new DomainError('deleting');
        return Number(existing.id);
      }
      const limit = Number(user.limit_sender_domains);
      if (limit > 0) {
        const [{ n }] = await trx('sender_domains').where({ user_id: user.id }).count({ n: '*' });
        if (Number(n) >= limit) throw new DomainError('limit');
      }
      const [newId] = await trx('sender_domains').insert({ ...fields, user_id: user.id, status: STATUS.pending, created_at: now, updated_at: now });
      return Number(newId);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError('taken');
    throw err;
  }
  // Outside the transaction, a run at a time (retained.ts): the domain waits for verification (Approval Pending)
  // meanwhile. Re-adding one's own name runs it too, so a restore cut short is finished by adding the name again.
  await restoreSuppressions(ctx.db, ctx.config.deleteChunkRows, { id, user_id: user.id, domain });
  return id;
}

/** A host override as sent: absent keeps the current value, empty resets to the install default. */
export function override(v: unknown, current: string | null): string | null {
  if (v === undefined) return current;
  const s = String(v).toLowerCase();
  return s === '' ? null : s;
}

export interface DomainChanges {
  /** Host settings after the change (omitted fields keep the row's). */
  hosts: Hosts;
  link_tracking?: boolean;
  open_tracking?: boolean;
  unsubscribe_link?: boolean;
  hosting_provider?: string | null;
  status?: string;
}

/**
 * Applies a partial update. A change of the hosts regenerates the DNS records and sends an Enabled or pending
 * domain back to Approval Pending (admin-set Disabled/Suspended stay); tracking switches alone change no status.
 * Returns the fresh row and whether the records were regenerated. Throws DomainError hosts | gone | deleting.
 */
export async function updateDomain(ctx: CommandContext, row: DomainRow, c: DomainChanges): Promise<{ row: DomainRow; regenerated: boolean }> {
  if (isDeleting(row)) throw new DomainError('deleting');
  const before = composeHosts(row, ctx.config);
  const after = composeHosts(c.hosts, ctx.config);
  if (!hostsAreValid(after)) throw new DomainError('hosts');
  const regenerated =
    c.hosts.subdomain !== row.subdomain ||
    c.hosts.track_prefix !== row.track_prefix ||
    c.hosts.track_merge !== row.track_merge ||
    c.hosts.track_prefix_disabled !== !!Number(row.track_prefix_disabled) ||
    before.mfromHost !== after.mfromHost ||
    before.trackingHost !== after.trackingHost;
  const update: Record<string, unknown> = { updated_at: Date.now() };
  for (const k of ['link_tracking', 'open_tracking', 'unsubscribe_link', 'hosting_provider', 'status'] as const) if (c[k] !== undefined) update[k] = c[k];
  if (regenerated) {
    Object.assign(update, c.hosts, {
      dns_records: JSON.stringify(recordsFor({ ...row, ...c.hosts }, ctx.config)),
      last_verified_at: null,
      // New hosts mean new records to publish: the old ones' failures no longer say anything.
      dns_failures: null,
      dns_failed_since: null,
    });
    if (row.status === STATUS.enabled || row.status === STATUS.pending) update.status = STATUS.pending;
  }
  // A suspension is the admin's (or the reputation guard's), and may have come after `row` was read: the status
  // change is conditional in the statement itself, so an owner's update never lifts it.
  if (update.status !== undefined) update.status = ctx.db.raw('CASE WHEN status = ? THEN status ELSE ? END', [STATUS.suspended, String(update.status)]);
  // Switched (back) on: what its name still keeps from a deletion cut short comes back first (retained.ts).
  if (c.status === STATUS.enabled && row.status !== STATUS.enabled) await restoreSuppressions(ctx.db, ctx.config.deleteChunkRows, row);
  // A deletion begun since `row` was read has switched it (or its account) off: the mark in the statement keeps this
  // from undoing that.
  const n = await ctx.db('sender_domains').where({ id: row.id, user_id: ctx.user!.id }).whereNull('deleting_at').update(update);
  const fresh = await findOwnedDomain(ctx.db, ctx.user!.id, row.id);
  if (!fresh) throw new DomainError('gone'); // deleted concurrently
  if (!n && isDeleting(fresh)) throw new DomainError('deleting');
  return { row: fresh, regenerated };
}

/** Seconds a caller is asked to wait when DNS gave no answer: resolver trouble lasts minutes, not milliseconds. */
const DNS_RETRY_AFTER_SEC = 30;

/** A verification whose required lookups got no answer: 503 / 100007 at every door, the domain left as it was. */
export class DnsNoAnswer extends HardError {
  constructor(hosts: string[]) {
    super(
      TEMPORARILY_UNAVAILABLE,
      503,
      `DNS lookups got no answer (timeout or server failure) for ${hosts.join(', ')}; nothing was changed. Retry in ${DNS_RETRY_AFTER_SEC} seconds.`,
      false,
      DNS_RETRY_AFTER_SEC,
    );
  }
}

/**
 * Resolves every record now: all required ones right → Enabled, else Approval Pending (Disabled/Suspended stay).
 * A rotation's new DKIM record that verifies switches signing to its key (src/domains/dns-health.ts). When a required
 * record's lookup of an Enabled domain got no answer (timeout, SERVFAIL), nothing is saved and the caller gets 503 /
 * 100007: such a check proves nothing, as the DNS watch knows, and read as "wrong" it switched the domain off (and its
 * sends with it) whenever a panel verified during a resolver outage. Throws DomainError deleting for a domain being
 * deleted (saveAssessment also refuses to write one).
 */
export async function verifyDomain(ctx: CommandContext, row: DomainRow): Promise<{ status: string; results: DnsRecord[] } | null> {
  // A change to the row during the lookups (the watch's own check, the owner's update) fails the save: check the
  // row as it is now, a few times at most.
  let current: DomainRow | undefined = row;
  for (let attempt = 0; attempt < 3 && current; attempt++) {
    if (isDeleting(current)) throw new DomainError('deleting');
    const checked = await ctx.dns.verify(recordsFor(current, ctx.config));
    const unsure = checked.filter((r) => r.required && r.inconclusive).map((r) => r.host);
    // Only an Enabled domain has anything to lose: a pending one stays pending whatever the lookups say.
    if (unsure.length && current.status === STATUS.enabled) throw new DnsNoAnswer(unsure);
    const now = Date.now();
    const a = assess(current, checked, now, 'manual', ctx.config);
    if (await saveAssessment(ctx.db, current, a, now, ctx.config.deleteChunkRows, { user_id: ctx.user!.id })) return { status: a.status, results: a.results };
    current = await findOwnedDomain(ctx.db, ctx.user!.id, row.id);
  }
  return null;
}

/** The owner may not delete a suspended domain (deleteDomain): the commands' code for it. */
export const SUSPENDED_DELETE_CODE = 3;
export const SUSPENDED_DELETE_MESSAGE =
  "The domain is suspended: it cannot be deleted until the installation's admin lifts the suspension (its queue, statistics and suppressions stay as evidence)";

/**
 * Deletes a domain with its key, credentials and message history; false when it was already gone. Its suppression list
 * goes too, except the hard bounces, complaints and unsubscribes, which are kept for its owner and come back if the
 * name is added again (retained.ts). Its hours in the reputation guard's window are kept for its account's figures
 * (retained-hours.ts).
 * A Suspended one is refused (SUSPENDED_DELETE_CODE): deleting it and adding the name again would start it afresh,
 * Enabled once verified, out of the admin's hands, its own figures empty (src/domains/reputation-guard.ts). Checked
 * on the row as locked, so a suspension made while the delete was asked for still counts.
 * In three steps, so that no statement grows with the domain's history (src/domains/purge.ts): the domain is switched
 * off (Disabled: nothing sends from it, and the guard suspends only Enabled domains) and marked (deleting_at: nothing
 * switches it back on meanwhile, src/domains/deleting.ts), its large tables go a run at a time, then the row with the
 * rest in one short transaction. A deletion cut short leaves the domain Disabled and marked with part of its history
 * gone; deleting it again finishes.
 */
export async function deleteDomain(ctx: CommandContext, row: DomainRow): Promise<boolean> {
  const userId = ctx.user!.id;
  const found = await ctx.db.transaction(async (trx) => {
    const current = await lockedForDelete(trx, userId, row.id);
    if (current && (current.status !== STATUS.disabled || !isDeleting(current))) {
      const now = Date.now();
      await trx('sender_domains')
        .where({ id: row.id })
        .update({ status: STATUS.disabled, deleting_at: current.deleting_at ?? now, updated_at: now });
    }
    return current;
  });
  if (!found) return false;
  // This process's cached sender keys and SMTP logins still see it Enabled until the command ends (src/dispatch.ts):
  // forget them now, before its suppression list starts to go. Other processes' lapse within SENDER_AUTH_CACHE_MS,
  // and their deliveries are held, as the worker reads the domain's status before it sends.
  ctx.store.forgetCredentials();
  await purgeDomainRows(ctx.db, ctx.config.deleteChunkRows, { id: row.id, user_id: userId, domain: found.domain }, Date.now());
  const deleted = await ctx.db.transaction(async (trx) => {
    const current = await lockedForDelete(trx, userId, row.id);
    if (!current) return 0;
    const now = Date.now();
    await retainSuppressions(trx, { id: row.id, user_id: userId, domain: current.domain }, now);
    await retainHours(trx, { id: row.id, user_id: userId, reputation_from: current.reputation_from, reputation_base: current.reputation_base }, now);
    await trx('domain_api_keys').where({ domain_id: row.id }).delete();
    await trx('smtp_credentials').where({ domain_id: row.id }).delete();
    // What was written behind the purge goes here (messages, deliveries and suppressions cascade; events have no key).
    await trx('events').where({ domain_id: row.id }).delete();
    return Number(await trx('sender_domains').where({ id: row.id, user_id: userId }).delete());
  });
  return deleted > 0;
}

type ForDelete = { status: string; domain: string; reputation_from: number | null; reputation_base: string | null; deleting_at: number | null };

/** The domain's row, locked with its account's (as createDomain: see below); refuses a Suspended one. */
async function lockedForDelete(trx: Knex.Transaction, userId: number, id: number): Promise<ForDelete | undefined> {
  // The account's row first, as createDomain: two deletions of one account's domains add into the same kept rows
  // (retained.ts, retained-hours.ts), and their upserts on new keys would deadlock on MariaDB if run side by side.
  await lockUserRow(trx, userId);
  const q = trx('sender_domains').where({ id, user_id: userId }).first('status', 'domain', 'reputation_from', 'reputation_base', 'deleting_at');
  const current = (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as ForDelete | undefined;
  if (current?.status === STATUS.suspended) throw new CommandError(SUSPENDED_DELETE_CODE, SUSPENDED_DELETE_MESSAGE);
  return current;
}
