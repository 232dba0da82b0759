/**
 * emailgateway.getcapturedmessage.public (GET /api/v1/captured/{CapturedID}) — one captured message of the
 * sender key's domain, parsed, or with format=raw its exact MIME (message/rfc822 on the v1 door).
 * Errors: 3 invalid Format, 4 not found.
 */
import { defineCommand } from '../src/command';
import { getCaptured } from '../src/capture/read';

export default defineCommand({
  name: 'emailgateway.getcapturedmessage.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    3: 'Format must be parsed or raw',
    4: 'Captured message not found',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  httpStatus: { 4: 404 },
  async run(p, ctx) {
    return getCaptured(ctx, { domainId: ctx.domain!.id }, p, 4);
  },
});
