/**
 * emailgateway.setdomainstatus (admin; a Postern addition: Octeth's admin sets Suspended by means it does not
 * document) — Status=Suspended stops a sender domain's sending (new mail is refused as for any domain that is not
 * Enabled) and holds its waiting deliveries (src/delivery/suspension-hold.ts); Status=Enabled lifts a suspension:
 * the held deliveries go out, the domain is Enabled again if its required records passed their last check, else
 * Approval Pending (Disabled if its owner had disabled it before the admin suspended it), and the reputation guard
 * counts its outcomes from the lift on (the lift's hour net of what it held then). Records `domain.suspended`
 * (reason `admin`) or `domain.unsuspended`. IPPool (Postern's too) sets the sending IP pool its mail leaves from in
 * DELIVERY_MODE=mx, a pool of SENDING_IP_POOLS or empty for the default: only here, so no tenant picks another's
 * dedicated IP. Status, IPPool or both. Reply: DomainID, Status (the new one), Changed, IPPool (when given), and
 * HeldDeliveries (suspend) or ReleasedDeliveries (lift) when the status changed. Errors: 1 missing DomainID, 2 domain
 * not found, 3 Status is not Enabled or Suspended (or neither Status nor IPPool given), 4 Enabled asked for a domain
 * that is not Suspended, 5 IPPool names no configured pool, 6 a Status or IPPool for a domain being deleted (its
 * owner's deletion or user.delete begun and not finished: a suspension would stop the deletion, its lift send from a
 * domain whose suppression list is half gone; a pool, as every other change to it; src/domains/deleting.ts). The deliveries move a page at a time after the change
 * commits: a call cut short (503) is finished by the same call.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { beginDomainEvent, completeDomainEvent, unfinishedDomainEvent } from '../src/domains/domain-events';
import { DomainRow, parseRecords, STATUS } from '../src/domains/domains';
import { releaseDomainQueue } from '../src/delivery/suspension-hold';
import { finishSuspension } from '../src/domains/suspension-finish';
import { hourCounts } from '../src/domains/reputation-figures';
import { hourOf } from '../src/stats/rollups';
import { DOMAIN_DELETING_TEXT, isDeleting } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.setdomainstatus',
  auth: 'admin',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found',
    3: 'Invalid Status value. Allowed: Enabled, Suspended',
    4: 'Only a Suspended domain can be enabled here; the owner enables a Disabled one (user.senderdomain.update)',
    5: 'IPPool names no pool of SENDING_IP_POOLS',
    6: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 6: 409 },
  async run(p, ctx) {
    if (p.domainid === undefined || String(p.domainid).trim() === '') throw new CommandError(1);
    const id = Number(String(p.domainid).trim());
    const wanted = String(p.status ?? '')
      .trim()
      .toLowerCase();
    const pool = p.ippool === undefined ? undefined : String(p.ippool).trim().toLowerCase();
    if (wanted !== 'enabled' && wanted !== 'suspended' && (wanted !== '' || pool === undefined)) throw new CommandError(3);
    if (pool && !ctx.config.sendingIpPools.has(pool)) {
      const known = [...ctx.config.sendingIpPools.keys()].join(', ') || 'none';
      throw new CommandError(5, `IPPool "${pool.slice(0, 64)}" names no pool of SENDING_IP_POOLS (configured: ${known})`);
    }
    if (!Number.isSafeInteger(id) || id <= 0) throw new CommandError(2);
    const size = ctx.config.deleteChunkRows;
    // The status change and its event's row commit first; the deliveries move a page at a time after it
    // (suspension-hold.ts), and the event gets its figure and webhook calls once they have. A call cut short is
    // finished by asking again: the event still without its figure says so.
    const r = await ctx.db.transaction(async (trx) => {
      const q = trx('sender_domains').where({ id }).first();
      // SQLite runs one write transaction at a time; MySQL needs the row lock against a concurrent guard or owner.
      const row = (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as DomainRow | undefined;
      if (!row) throw new CommandError(2);
      // Read under the row lock that deleteDomain's first step also takes (MySQL; SQLite writes one at a time).
      if (isDeleting(row)) throw new CommandError(6);
      const now = Date.now();
      // Empty: the default pool (null), so a later DEFAULT_IP_POOL applies to it too.
      const repooled = pool !== undefined && (row.ip_pool ?? '') !== pool;
      if (repooled)
        await trx('sender_domains')
          .where({ id })
          .update({ ip_pool: pool || null, updated_at: now });
      if (wanted === '') return { row, repooled, begun: null };
      if (wanted === 'suspended') {
        if (row.status === STATUS.suspended) return { row, repooled, begun: await unfinishedDomainEvent(trx, id, 'domain.suspended', 'held_deliveries') };
        await trx('sender_domains').where({ id }).update({ status: STATUS.suspended, updated_at: now });
        const data = { reason: 'admin', previous_status: row.status, held_deliveries: null };
        return { row, repooled, begun: { id: await beginDomainEvent(trx, row, { type: 'domain.suspended', data }, now), data, created_at: now } };
      }
      if (row.status !== STATUS.suspended) {
        const begun = await unfinishedDomainEvent(trx, id, 'domain.unsuspended', 'released_deliveries');
        if (!begun) throw new CommandError(4);
        return { row, repooled, begun };
      }
      // A domain its owner had Disabled before the admin suspended it stays Disabled: the owner switches it back on.
      const last = await trx('domain_events').where({ domain_id: id, type: 'domain.suspended' }).orderBy('id', 'desc').first('data');
      const before = last ? (JSON.parse(String(last.data)) as { previous_status?: string }).previous_status : undefined;
      // As user.senderdomain.update: only a domain whose required records passed their last probe sends again.
      const verified = parseRecords(row).every((r) => !r.required || r.ok === true);
      const status = before === STATUS.disabled ? STATUS.disabled : verified ? STATUS.enabled : STATUS.pending;
      // The lift's hour also holds what caused the suspension: the guard counts it net of what it holds now.
      const base = await hourCounts(trx, id, hourOf(now));
      await trx('sender_domains')
        .where({ id })
        .update({ status, reputation_from: now, reputation_base: JSON.stringify(base), updated_at: now });
      const data = { status, released_deliveries: null };
      return {
        row: { ...row, status },
        repooled,
        begun: { id: await beginDomainEvent(trx, row, { type: 'domain.unsuspended', data }, now), data, created_at: now },
      };
    });
    const { row, begun, repooled } = r;
    const withPool = pool === undefined ? {} : { IPPool: pool };
    if (!begun) return { DomainID: id, Status: row.status, Changed: repooled, ...withPool };
    const now = Date.now();
    if (wanted === 'suspended') {
      const held = await finishSuspension(ctx, row, begun, now);
      return { DomainID: id, Status: STATUS.suspended, Changed: true, ...withPool, HeldDeliveries: held };
    }
    // Counted and enqueued once the lift committed: a rolled-back lift is not an event, and its rows are still held.
    const released = await releaseDomainQueue(ctx, size, row, now);
    const data = { ...begun.data, released_deliveries: released };
    const completed = await ctx.db.transaction((trx) =>
      completeDomainEvent(trx, row, begun.id, { type: 'domain.unsuspended', data }, begun.created_at, begun.data),
    );
    if (completed) ctx.metrics.domainEvent('domain.unsuspended');
    return { DomainID: id, Status: row.status, Changed: true, ...withPool, ReleasedDeliveries: released };
  },
});
