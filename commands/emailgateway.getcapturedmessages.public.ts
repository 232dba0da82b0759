/**
 * emailgateway.getcapturedmessages.public (GET /api/v1/captured) — messages kept by DELIVERY_MODE=capture for
 * the sender key's domain, newest first; filters MessageID and Recipient, paging StartFrom and RetrieveCount.
 */
import { defineCommand } from '../src/command';
import { listCaptured } from '../src/capture/read';

export default defineCommand({
  name: 'emailgateway.getcapturedmessages.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    3: 'Invalid filter or paging value (StartFrom ≥ 0, RetrieveCount 1-100)',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    return listCaptured(ctx, { domainId: ctx.domain!.id }, p);
  },
});
