/** What the `user.senderdomain.*` and `user.webhook.*` commands (upstream's user-area API) share. */

/** Their common definition: user auth with permission User.Update, 100 requests a minute, no ErrorCode on success. */
export const USER_AREA = { auth: 'user', permission: 'User.Update', rateLimit: { durationSec: 60 }, omitSuccessErrorCode: true } as const;
export const MISSING_DOMAIN_ID = 'Missing DomainID parameter';
export const DOMAIN_NOT_FOUND = 'Sender domain not found';
export const BAD_LABEL =
  'Invalid CustomSubdomain or CustomTrackPrefix (letters, digits and hyphens only; at most 32 characters; no leading or trailing hyphen)';
