/** user.apikey.create — a user API key, shown in full once; optional BoundIPAddress and Permissions (comma list, `*` = all). Errors: 1 missing Note, 5 bad IP, 6 bad permissions. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isIp } from '../src/auth/user-fields';
import { canonicalIp, formatTime } from '../src/auth/users';
import { newUserKey } from '../src/credentials/credentials';

export default defineCommand({
  name: 'user.apikey.create',
  auth: 'user',
  permission: 'User.Update',
  omitSuccessErrorCode: true,
  errors: {
    1: 'Missing required parameter (Note)',
    5: 'Invalid BoundIPAddress',
    6: 'Invalid Permissions (comma-separated names such as EmailGateway.ManageDomain, or *)',
  },
  async run(p, ctx) {
    const bound = p.boundipaddress ? canonicalIp(String(p.boundipaddress)) : null;
    if (bound && !isIp(bound)) throw new CommandError(5);
    const permissions = p.permissions ? String(p.permissions) : '*';
    const { key, hash, last4 } = newUserKey();
    const now = Date.now();
    const row = { user_id: ctx.user!.id, key_hash: hash, key_last4: last4, note: String(p.note), bound_ip: bound, permissions, created_at: now };
    const [id] = await ctx.db('user_api_keys').insert(row);
    return {
      APIKeyID: Number(id),
      APIKey: {
        APIKeyID: Number(id),
        APIKey: key,
        Note: row.note,
        IPAddress: bound,
        BoundIPAddress: bound,
        Permissions: permissions,
        CreatedAt: formatTime(now),
        LastUsedAt: null,
        LastUsedIP: null,
        RequestCount: 0,
      },
    };
  },
});
