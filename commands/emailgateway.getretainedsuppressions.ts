/** emailgateway.getretainedsuppressions — the hard bounces, complaints and unsubscribes kept from the caller's deleted domains (Domain, Query, Reason, StartFrom, RetrieveCount ≤ 100). */
import { defineCommand } from '../src/command';
import { listRetained, keptDomainParam } from '../src/domains/retained';
import { RETAINED_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.getretainedsuppressions',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: RETAINED_ERRORS,
  async run(p, ctx) {
    const domain = keptDomainParam(p.domain);
    return listRetained(ctx.db, ctx.user!.id, {
      domain,
      query: p.query === undefined ? undefined : String(p.query),
      reason: p.reason === undefined ? undefined : String(p.reason),
      startFrom: Number(p.startfrom),
      count: Number(p.retrievecount),
    });
  },
});
