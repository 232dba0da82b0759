/** Error texts shared by the `user.senderdomain.*` commands (upstream's user-area sender domain API). */
export const MISSING_DOMAIN_ID = 'Missing DomainID parameter';
export const DOMAIN_NOT_FOUND = 'Sender domain not found';
export const BAD_LABEL = 'Invalid CustomSubdomain or CustomTrackPrefix (letters, digits and hyphens only; at most 32 characters; no leading or trailing hyphen)';
