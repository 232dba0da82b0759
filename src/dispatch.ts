import type { CommandContext, CommandDef, Params, Services } from './command';
import { authenticate, authorize } from './auth/authenticate';
import { CommandError, hard } from './errors';
import { forgetSenders } from './auth/sender-cache';
import { enforcePlanLimits } from './accounts/plans';
import type { Validator } from './validation';

export type CommandTable = Record<string, CommandDef>;

/** Own-property lookup only: `__proto__`, `constructor`, `toString` are unknown commands. */
export function lookupCommand(table: CommandTable, name: string): CommandDef | undefined {
  const key = name.toLowerCase();
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

export interface RequestMeta {
  requestId: string;
  ip: string;
  headers?: Record<string, string | undefined>;
}

export interface Dispatcher {
  table: CommandTable;
  run(name: string, params: Params, meta: RequestMeta): Promise<{ cmd: CommandDef; result: Record<string, unknown> }>;
}

/** lookup → authenticate → authorize → validate → run. Errors leave as CommandError or HardError. */
export function createDispatcher(services: Services, table: CommandTable, validator: Validator): Dispatcher {
  return {
    table,
    async run(name, params, meta) {
      const cmd = lookupCommand(table, name);
      if (!cmd) throw hard.unknownCommand(name);
      const ctx: CommandContext = { ...services, requestId: meta.requestId, ip: meta.ip, headers: meta.headers };
      await authenticate(cmd, params, ctx);
      authorize(cmd, ctx);
      const points = cmd.rateLimit ? services.config.apiRateLimitPerMinute : 0;
      // Account keys count against their account's plan, on every command they call; sender keys as before.
      if (ctx.accountKey) await enforcePlanLimits(services.limits, ctx.user!);
      else if (cmd.rateLimit && points > 0) {
        const who = ctx.senderKeyId !== undefined ? `k${ctx.senderKeyId}` : ctx.user ? `u${ctx.user.id}` : `ip${ctx.ip}`;
        const verdict = await services.limits.limit(`cmd:${cmd.name}`, points, cmd.rateLimit.durationSec).consume(who);
        if (!verdict.allowed) {
          const err = new CommandError(429, `Too many requests: at most ${points} per ${cmd.rateLimit.durationSec} seconds. Try again in ${verdict.retryAfterSec} seconds.`);
          err.retryAfterSec = verdict.retryAfterSec;
          throw err;
        }
      }
      const codes = validator.check(cmd, params);
      if (codes.length) throw new CommandError(codes);
      const result = await cmd.run(params, ctx);
      // Management commands may revoke keys or change accounts and domains: drop cached credential lookups.
      if ((cmd.auth === 'user' || cmd.auth === 'admin') && !cmd.keepsCredentialCaches) forgetSenders();
      return { cmd, result };
    },
  };
}

export function errorTexts(cmd: CommandDef | undefined, err: CommandError): string[] {
  return err.codes.map((c, i) => err.texts?.[i] ?? err.texts?.[0] ?? cmd?.errors[c] ?? 'Request failed');
}
