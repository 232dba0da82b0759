import { dkimVerify } from 'mailauth/lib/dkim/verify';
import type { Harness } from './harness';

/** The DKIM TXT value adddomain asks the domain to publish (what a recipient's resolver would answer). */
export async function publishedDkim(h: Harness, sessionId: string, domainId: number): Promise<string> {
  const d = await h.call({ Command: 'emailgateway.getdomain', SessionID: sessionId, DomainID: domainId });
  return d.Domain.DNSRecords.find((r: { Purpose: string }) => r.Purpose === 'dkim').Value as string;
}

/** mailauth's verdict on the first signature of `raw`, against `value` published at key1._domainkey.<domain>. */
export async function dkimVerdict(raw: Buffer, domain: string, value: string, selector = 'key1'): Promise<{ result: string; signingDomain: string }> {
  const v = await dkimVerify(raw, {
    resolver: async (name: string, type: string) => {
      if (type === 'TXT' && name === `${selector}._domainkey.${domain}`) return [[value]];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  });
  return { result: v.results[0]?.status.result ?? 'none', signingDomain: v.results[0]?.signingDomain ?? '' };
}
