/**
 * emailgateway.getalldomains (admin) — every user's sender domains, for an admin panel: UserID (one user's),
 * Search (part of the domain name), Status, RecordsPerRequest (1-1000, default 50), RecordsFrom. Reply:
 * TotalDomainCount and Domains[{DomainID, SenderDomain, Status, UserID, Username, CreatedAt, LastVerifiedAt, IPPool,
 * DeletionStartedAt}] in id order (IPPool: the sending IP pool the admin set, '' for the default; DeletionStartedAt:
 * when an unfinished deletion of it, or of its account, began, else null). Errors: 1 invalid paging, 2 invalid
 * UserID, 3 invalid Search, 4 invalid Status.
 */
import { defineCommand } from '../src/command';
import { formatTime } from '../src/auth/users';
import { containsPattern } from '../src/db';
import { deletionStartedAt } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.getalldomains',
  auth: 'admin',
  keepsCredentialCaches: true,
  errors: { 1: 'Invalid RecordsPerRequest (1-1000) or RecordsFrom', 2: 'Invalid UserID', 3: 'Invalid Search', 4: 'Invalid Status' },
  async run(p, ctx) {
    const q = ctx.db('sender_domains').leftJoin('users', 'users.id', 'sender_domains.user_id');
    if (p.userid !== undefined) q.where('sender_domains.user_id', Number(p.userid));
    if (p.status !== undefined && p.status !== '') q.where('sender_domains.status', String(p.status));
    if (typeof p.search === 'string' && p.search.trim()) {
      q.whereRaw(`sender_domains.domain like ? escape '!'`, [containsPattern(p.search.trim().toLowerCase())]);
    }
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q
      .orderBy('sender_domains.id')
      .limit(Number(p.recordsperrequest))
      .offset(Number(p.recordsfrom))
      .select(
        'sender_domains.id',
        'sender_domains.domain',
        'sender_domains.status',
        'sender_domains.user_id',
        'users.username',
        'sender_domains.created_at',
        'sender_domains.last_verified_at',
        'sender_domains.ip_pool',
        'sender_domains.deleting_at',
      );
    return {
      TotalDomainCount: Number(n),
      Domains: rows.map((r: Record<string, any>) => ({
        DomainID: Number(r.id),
        SenderDomain: r.domain,
        Status: r.status,
        UserID: Number(r.user_id),
        Username: r.username,
        CreatedAt: formatTime(r.created_at),
        LastVerifiedAt: formatTime(r.last_verified_at),
        IPPool: r.ip_pool ?? '',
        DeletionStartedAt: deletionStartedAt(r),
      })),
    };
  },
});
