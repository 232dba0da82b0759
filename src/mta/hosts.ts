import type { Config } from '../config';
import type { Db } from '../db';
import type { DomainRow } from '../domains/domains';
import { composeHosts, normalizeDomain } from '../domains/names';

/**
 * The sender domain a host belongs to when Postern receives mail for it: the domain itself, its MFROM
 * host (`sl.example.com`) or its tracking host (`track-sl.example.com`, `track.sl.example.com`).
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
    if (strip === 0) return host;
    const h = composeHosts(row, config);
    if (host === h.mfromHost || host === h.trackingHost) return host;
  }
  return null;
}
