/** user.apikey.list — the caller's API keys, masked to their last four characters. */
import { defineCommand } from '../src/command';
import { formatTime } from '../src/auth/users';
import { maskUserKey } from '../src/credentials/credentials';

export default defineCommand({
  name: 'user.apikey.list',
  auth: 'user',
  permission: 'User.Update',
  omitSuccessErrorCode: true,
  errors: {},
  async run(_p, ctx) {
    const rows = await ctx.db('user_api_keys').where({ user_id: ctx.user!.id }).orderBy('id');
    return {
      APIKeys: rows.map((r) => ({
        APIKeyID: Number(r.id),
        APIKey: maskUserKey(r.key_last4),
        Note: r.note,
        BoundIPAddress: r.bound_ip,
        Permissions: r.permissions,
        CreatedAt: formatTime(r.created_at),
        LastUsedAt: formatTime(r.last_used_at),
        LastUsedIP: r.last_used_ip,
        RequestCount: Number(r.request_count),
      })),
    };
  },
});
