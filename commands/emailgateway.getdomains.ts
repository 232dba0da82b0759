/** emailgateway.getdomains — every sender domain of the caller; WithCounts adds enabled API key and SMTP credential counts. Errors: 1 WithCounts not a flag. */
import { defineCommand } from '../src/command';
import { formatTime } from '../src/auth/users';
import { truthy } from '../src/http/params';
import { DomainRow, parseRecords, presentOptions, recordMap } from '../src/domains/domains';

async function countsByDomain(db: any, table: string, userId: number): Promise<Map<number, number>> {
  const rows = await db(table).where({ user_id: userId, status: 'Enabled' }).groupBy('domain_id').select('domain_id').count({ n: '*' });
  return new Map(rows.map((r: { domain_id: number; n: number }) => [Number(r.domain_id), Number(r.n)]));
}

export default defineCommand({
  name: 'emailgateway.getdomains',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Invalid WithCounts: send true or false' },
  async run(p, ctx) {
    const userId = ctx.user!.id;
    const rows: DomainRow[] = await ctx.db('sender_domains').where({ user_id: userId }).orderBy('id');
    const withCounts = p.withcounts !== undefined && truthy(p.withcounts);
    const [keys, smtps] = withCounts
      ? await Promise.all([countsByDomain(ctx.db, 'domain_api_keys', userId), countsByDomain(ctx.db, 'smtp_credentials', userId)])
      : [null, null];
    const Domains = rows.map((row) => {
      const d: Record<string, unknown> = {
        DomainID: row.id,
        SenderDomain: row.domain,
        CreatedAt: formatTime(row.created_at),
        Status: row.status,
        VerificationMeta: { DNSRecords: recordMap(parseRecords(row)) },
        PolicyMeta: [],
        Options: presentOptions(row),
      };
      if (keys && smtps) {
        d.APIKeyCount = keys.get(row.id) ?? 0;
        d.SMTPCount = smtps.get(row.id) ?? 0;
      }
      return d;
    });
    return { Domains };
  },
});
