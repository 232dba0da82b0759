/** emailgateway.deletesuppression.public (DELETE /api/v1/suppressions) — take an address off the domain's suppression list, for the sender key's domain. */
import { defineCommand } from '../src/command';
import { deleteOne, PUBLIC_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.deletesuppression.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: PUBLIC_ERRORS,
  async run(p, ctx) {
    return deleteOne(ctx, ctx.domain!.id, p);
  },
});
