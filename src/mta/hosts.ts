import type { Config } from '../config';
import type { Db } from '../db';
import { DomainRow, STATUS } from '../domains/domains';
import { composeHosts, normalizeDomain } from '../domains/names';

/** Whether any message was ever accepted from this domain: then bounces to its MFROM host may still come. */
async function hasSentMail(db: Db, domainId: number): Promise<boolean> {
  return !!(await db('messages').where({ domain_id: domainId }).first('id'));
}

/**
 * The sender domain a host belongs to when Postern receives mail for it: the domain itself, its MFROM
 * host (`sl.example.com`) or its tracking host (`track-sl.example.com`, `track.sl.example.com`).
 *
 * Only a verified (Enabled) domain counts, as in sender.domains' relay list: anyone may add any name, and an
 * MX that relayed for a merely typed `victim.test` would accept mail for someone else's domain. The one exception
 * is the MFROM host of a domain that has sent mail and is no longer Enabled (disabled, suspended, or back to
 * Approval Pending when its DNS broke): bounces and complaints for that mail still arrive there.
 */
export async function relayDomainFor(db: Db, config: Config, input: string): Promise<string | null> {
  const raw = input.includes('@') ? input.slice(input.lastIndexOf('@') + 1) : input;
  const host = normalizeDomain(raw);
  if (!host) return null;
  const labels = host.split('.');
  for (let strip = 0; strip <= 2 && labels.length - strip >= 2; strip++) {
    const candidate = labels.slice(strip).join('.');
    const row: DomainRow | undefined = await db('sender_domains').where({ domain: candidate }).first();
    if (!row) continue;
    const enabled = row.status === STATUS.enabled;
    if (strip === 0) {
      if (enabled) return host;
      continue;
    }
    const h = composeHosts(row, config);
    if (host === h.trackingHost && enabled) return host;
    if (host === h.mfromHost && (enabled || (await hasSentMail(db, Number(row.id))))) return host;
  }
  return null;
}
