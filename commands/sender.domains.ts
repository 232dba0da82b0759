/**
 * sender.domains (POST /api/v1/sender.domains, AdminAPIKey) — every Enabled sender domain, as JSON or as
 * PowerMTA configuration for the MFROM (bounce) hosts. Errors: 1 invalid DomainsResponseFormat.
 */
import { defineCommand } from '../src/command';
import { composeHosts } from '../src/domains/names';
import { STATUS } from '../src/domains/domains';

export default defineCommand({
  name: 'sender.domains',
  auth: 'admin',
  keepsCredentialCaches: true,
  omitSuccessErrorCode: true,
  scalarErrors: true,
  errors: { 1: 'Invalid DomainsResponseFormat (must be json, powermta-bounce-domains, or powermta-relay-domains)' },
  async run(p, ctx) {
    const rows = await ctx.db('sender_domains').where({ status: STATUS.enabled }).orderBy('domain');
    const format = String(p.domainsresponseformat ?? 'json');
    if (format === 'json') return { Domains: rows.map((r) => r.domain) };
    const hosts = [...new Set(rows.map((r) => composeHosts(r, ctx.config).mfromHost))].sort();
    const text =
      format === 'powermta-relay-domains'
        ? hosts.map((h) => `relay-domain ${h}\n`).join('')
        : ['<bounce-processor>', '    <address-list>', ...hosts.map((h) => `        domain ${h}`), '    </address-list>', '</bounce-processor>', ''].join('\n');
    return { Format: format, Domains: hosts, Text: text };
  },
});
