/** emailgateway.getsuppressions.public (GET /api/v1/suppressions) — the domain's suppression list, newest first (StartFrom, RetrieveCount ≤ 100, Query, Reason), for the sender key's domain. */
import { defineCommand } from '../src/command';
import { listSuppressions, PUBLIC_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.getsuppressions.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: PUBLIC_ERRORS,
  async run(p, ctx) {
    return listSuppressions(ctx, ctx.domain!.id, p);
  },
});
