/**
 * emailgateway.getcapturedmessage — one message kept by DELIVERY_MODE=capture (CapturedID), parsed (default)
 * or with Format=raw its exact MIME. Errors: 1 missing CapturedID, 2 not found/denied, 3 invalid Format.
 */
import { defineCommand } from '../src/command';
import { getCaptured } from '../src/capture/read';

export default defineCommand({
  name: 'emailgateway.getcapturedmessage',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: { 1: 'Missing required parameter (CapturedID)', 2: 'Captured message not found or access denied', 3: 'Format must be parsed or raw' },
  async run(p, ctx) {
    return getCaptured(ctx, { userId: ctx.user!.id }, p, 2);
  },
});
