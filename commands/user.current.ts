/** user.current — the caller's account, group, permissions and limits. Errors: `[1]` authentication required (upstream §1.6, not 99998). */
import { defineCommand } from '../src/command';
import { presentUserInfo } from '../src/auth/users';

export default defineCommand({
  name: 'user.current',
  auth: 'user',
  errors: { 1: 'Authentication required' },
  authError: { code: [1], text: 'Authentication required' },
  async run(_p, ctx) {
    const user = ctx.user!;
    const group = await ctx.db('user_groups').where({ id: user.group_id }).first();
    const perms = ctx.permissions === '*' ? '*' : [...(ctx.permissions ?? [])].join(',');
    return {
      UserInfo: {
        ...presentUserInfo(user),
        GroupInfo: {
          UserGroupID: user.group_id,
          GroupName: group?.name ?? '',
          Permissions: perms,
          LimitEmailSendPerPeriod: String(user.limit_monthly),
          LimitEmailSendPerDay: String(user.limit_daily),
          LimitEmailSendLifetime: '0',
          LimitEmailGatewaySenderDomains: String(user.limit_sender_domains),
        },
      },
    };
  },
});
