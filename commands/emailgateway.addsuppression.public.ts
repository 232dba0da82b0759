/** emailgateway.addsuppression.public (POST /api/v1/suppressions) — put an address on the domain's suppression list (reason manual), for the sender key's domain. */
import { defineCommand } from '../src/command';
import { addOne, PUBLIC_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.addsuppression.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: PUBLIC_ERRORS,
  async run(p, ctx) {
    return addOne(ctx, ctx.domain!.id, p);
  },
});
