/**
 * emailgateway.setdomainstatus (admin; a Postern addition: Octeth's admin sets Suspended by means it does not
 * document) — Status=Suspended stops a sender domain's sending (new mail is refused as for any domain that is not
 * Enabled) and holds its waiting deliveries (src/delivery/suspension-hold.ts); Status=Enabled lifts a suspension:
 * the held deliveries go out, the domain is Enabled again if its required records passed their last check, else
 * Approval Pending (Disabled if its owner had disabled it before the admin suspended it), and the reputation guard
 * counts its outcomes from the lift on (the lift's hour net of what it held then). Records `domain.suspended`
 * (reason `admin`) or `domain.unsuspended`. IPPool (Postern's too) sets the sending IP pool its mail leaves from in
 * DELIVERY_MODE=mx, a pool of SENDING_IP_POOLS or empty for the default: only here, so no tenant picks another's
 * dedicated IP. Status, IPPool or both (in one transaction). Reply: DomainID, Status (the new one), Changed, IPPool
 * (when given), and HeldDeliveries (suspend) or ReleasedDeliveries (lift) when the status changed. Errors: 1 missing
 * DomainID, 2 domain not found, 3 Status is not Enabled or Suspended (or neither Status nor IPPool given), 4 Enabled
 * asked for a domain that is not Suspended, 5 IPPool names no configured pool.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { recordDomainEvents } from '../src/domains/domain-events';
import { DomainRow, parseRecords, STATUS } from '../src/domains/domains';
import { enqueueReleased, holdDomainQueue, Released, releaseDomainQueue } from '../src/delivery/suspension-hold';
import { hourCounts } from '../src/domains/reputation-figures';
import { hourOf } from '../src/stats/rollups';

export default defineCommand({
  name: 'emailgateway.setdomainstatus',
  auth: 'admin',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found',
    3: 'Invalid Status value. Allowed: Enabled, Suspended',
    4: 'Only a Suspended domain can be enabled here; the owner enables a Disabled one (user.senderdomain.update)',
    5: 'IPPool names no pool of SENDING_IP_POOLS',
  },
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
    const r = await ctx.db.transaction(async (trx) => {
      const q = trx('sender_domains').where({ id }).first();
      // SQLite runs one write transaction at a time; MySQL needs the row lock against a concurrent guard or owner.
      const row = (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as DomainRow | undefined;
      if (!row) throw new CommandError(2);
      const now = Date.now();
      // Empty: the default pool (null), so a later DEFAULT_IP_POOL applies to it too.
      const repooled = pool !== undefined && (row.ip_pool ?? '') !== pool;
      if (repooled)
        await trx('sender_domains')
          .where({ id })
          .update({ ip_pool: pool || null, updated_at: now });
      const withPool = pool === undefined ? {} : { IPPool: pool };
      if (wanted === '') return { DomainID: id, Status: row.status, Changed: repooled, ...withPool };
      if (wanted === 'suspended') {
        if (row.status === STATUS.suspended) return { DomainID: id, Status: row.status, Changed: repooled, ...withPool };
        await trx('sender_domains').where({ id }).update({ status: STATUS.suspended, updated_at: now });
        const held = await holdDomainQueue(trx, id, now);
        await recordDomainEvents(trx, row, [{ type: 'domain.suspended', data: { reason: 'admin', previous_status: row.status, held_deliveries: held } }], now);
        return { DomainID: id, Status: STATUS.suspended, Changed: true, ...withPool, HeldDeliveries: held, event: 'domain.suspended' };
      }
      if (row.status !== STATUS.suspended) throw new CommandError(4);
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
      const { released, count } = await releaseDomainQueue(trx, id, now);
      await recordDomainEvents(trx, row, [{ type: 'domain.unsuspended', data: { status, released_deliveries: count } }], now);
      return { DomainID: id, Status: status, Changed: true, ...withPool, ReleasedDeliveries: count, event: 'domain.unsuspended', released, now };
    });
    // Counted and enqueued once committed: a rolled-back change is not an event, and its rows are still held.
    const { event, released, now, ...reply } = r as typeof r & { event?: 'domain.suspended' | 'domain.unsuspended'; released?: Released[]; now?: number };
    if (event) ctx.metrics.domainEvent(event);
    // The sweeper enqueues what this cannot (Redis away): the rows are already waiting again.
    if (released?.length)
      await enqueueReleased(ctx, released, now!).catch((err) =>
        ctx.logger.warn('released deliveries not enqueued; the sweeper will pick them up', { domainId: id, error: (err as Error).message }),
      );
    return reply;
  },
});
