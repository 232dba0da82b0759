import type { CommandContext, CommandDef, Params, Services } from './command';
import { authenticate, authorize } from './auth/authenticate';
import { AUTH_FAILED, CommandError, hard } from './errors';
import { forgetSenders } from './auth/sender-cache';
import { enforcePlanLimits } from './accounts/plans';
import type { Validator } from './validation';
import { decodeJsonText } from './http/params';

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
  /** Parameters that arrived as text (query string, form fields): JSON text of structured values is decoded. */
  textKeys?: Set<string>;
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
      try {
        await authenticate(cmd, params, ctx);
      } catch (err) {
        if (cmd.authError && err instanceof CommandError && err.codes[0] === AUTH_FAILED) throw new CommandError(cmd.authError.code, cmd.authError.text);
        throw err;
      }
      authorize(cmd, ctx);
      // A command's own allowance still obeys API_RATE_LIMIT_PER_MINUTE=0 (limits off).
      const points = !cmd.rateLimit || services.config.apiRateLimitPerMinute <= 0 ? 0 : (cmd.rateLimit.points ?? services.config.apiRateLimitPerMinute);
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
      if (meta.textKeys?.size) decodeJsonText(params, meta.textKeys, (k) => validator.declaresText(cmd, k));
      const codes = validator.check(cmd, params);
      if (codes.length) throw new CommandError(cmd.scalarErrors ? codes[0] : codes);
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
