import type { CommandContext, CommandDef, Params, Services } from './command';
import { authenticate, authorize } from './auth/authenticate';
import { CommandError, hard } from './errors';
import type { Validator } from './validation';

export type CommandTable = Record<string, CommandDef>;

/** Own-property lookup only: `__proto__`, `constructor`, `toString` are unknown commands. */
export function lookupCommand(table: CommandTable, name: string): CommandDef | undefined {
  const key = name.toLowerCase();
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

export interface Dispatcher {
  table: CommandTable;
  run(name: string, params: Params, meta: { requestId: string; ip: string }): Promise<{ cmd: CommandDef; result: Record<string, unknown> }>;
}

/** lookup → authenticate → authorize → validate → run. Errors leave as CommandError or HardError. */
export function createDispatcher(services: Services, table: CommandTable, validator: Validator): Dispatcher {
  return {
    table,
    async run(name, params, meta) {
      const cmd = lookupCommand(table, name);
      if (!cmd) throw hard.unknownCommand(name);
      const ctx: CommandContext = { ...services, requestId: meta.requestId, ip: meta.ip };
      await authenticate(cmd, params, ctx);
      authorize(cmd, ctx);
      const codes = validator.check(cmd, params);
      if (codes.length) throw new CommandError(codes);
      return { cmd, result: await cmd.run(params, ctx) };
    },
  };
}

export function errorTexts(cmd: CommandDef | undefined, err: CommandError): string[] {
  return err.codes.map((c, i) => err.texts?.[i] ?? err.texts?.[0] ?? cmd?.errors[c] ?? 'Request failed');
}
