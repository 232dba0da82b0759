import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command, CommanderError } from 'commander';
import { commands } from '../../commands';
import { ConfigError, loadConfig, ROLES, type Config } from '../config';
import { CommandError, HardError, legacyFailure } from '../errors';
import { streamOf } from '../http/stream-reply';
import { projectRoot } from '../project-root';
import { backupEmbedded, MYSQL_BACKUP, NoInstallationError } from './backup';
import type { Action, Installation } from './installation';
import { parseParams } from './params';
import { reencryptSecrets } from './reencrypt';
import { addShortcuts } from './shortcuts';
import { UsageError } from './usage-error';

// The installation (services, the dispatcher) and the dispatcher's helpers load when an action opens it, not at
// the start of every run: --help and backup need neither (~550 files). The configuration is read before they load,
// so one refused is told at once, at the cost of reading this file's imports only.
const dispatch = () => import('../dispatch');
const openInstallation = async (env: CliIo['env']): Promise<Installation> => {
  const config = loadConfig(env, 'migrate');
  return (await import('./installation')).openInstallation(env, config);
};

/** Exit codes: 0 done, 1 the command answered with an error, 2 bad usage, 3 the installation could not be opened. */
export const EXIT = { ok: 0, failed: 1, usage: 2, setup: 3 } as const;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export class Cli {
  exitCode: number = EXIT.ok;
  constructor(
    readonly io: CliIo,
    /** How an action gets the installation (tests hand in one they keep open across many runs). */
    private readonly open: (env: CliIo['env']) => Promise<Installation> = openInstallation,
  ) {}

  printJson(value: unknown): void {
    this.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  failWith(code: number, line: string): void {
    this.io.stderr.write(`postern: ${line}\n`);
    this.exitCode = code;
  }

  /** Opens the installation, runs `action`, prints its answer as JSON (or streams a download) and closes. */
  async act(command: string | null, action: Action): Promise<void> {
    let inst: Installation;
    try {
      inst = await this.open(this.io.env);
    } catch (err) {
      const config = err instanceof ConfigError ? 'invalid configuration: ' : 'cannot open the installation: ';
      return this.failWith(EXIT.setup, config + (err as Error).message);
    }
    try {
      const result = await action(inst);
      const stream = streamOf(result);
      if (stream) await pipeline(stream.body, this.io.stdout, { end: false });
      else this.printJson(result);
    } catch (err) {
      if (err instanceof UsageError) return this.failWith(EXIT.usage, err.message);
      if (err instanceof HardError) return this.failWith(err.code === 100003 ? EXIT.usage : EXIT.failed, err.message);
      if (!(err instanceof CommandError)) return this.failWith(EXIT.failed, `failed: ${(err as Error).message}`);
      const { errorTexts, lookupCommand } = await dispatch();
      const cmd = command ? lookupCommand(commands, command) : undefined;
      const texts = errorTexts(cmd, err);
      this.printJson(legacyFailure(err.codes, texts, err.codes.length > 1));
      this.failWith(EXIT.failed, `${command ?? 'command'} failed: ${err.codes.map((c, i) => `${c} ${texts[i]}`).join('; ')}`);
    } finally {
      await inst.close().catch(() => undefined);
    }
  }
}

/** For commands that read the configuration but must not open the installation (which applies migrations). */
async function withConfig(cli: Cli, action: (config: Config) => Promise<object>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(cli.io.env, 'migrate');
  } catch (err) {
    return cli.failWith(EXIT.setup, `invalid configuration: ${(err as Error).message}`);
  }
  try {
    cli.printJson(await action(config));
  } catch (err) {
    if (err instanceof UsageError) return cli.failWith(EXIT.usage, err.message);
    if (err instanceof NoInstallationError) return cli.failWith(EXIT.setup, err.message);
    cli.failWith(EXIT.failed, `failed: ${(err as Error).message}`);
  }
}

/** `postern call --list`: every command with who may run it, read from the command table alone (no database). */
function listCommands(): Record<string, unknown> {
  return { Commands: Object.values(commands).map((c) => ({ Command: c.name, Auth: c.auth, ...(c.permission ? { Permission: c.permission } : {}) })) };
}

/**
 * The `postern` command line. Roles start the long-running processes; every other subcommand opens the
 * installation from the same environment, runs one command through the dispatcher with admin rights and prints JSON.
 */
export function buildProgram(cli: Cli, startRole: (role: string) => Promise<void>): Command {
  const { version } = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
  const program = new Command('postern')
    .version(version)
    .description('Postern, a self-hosted transactional email gateway. Configuration comes from the environment (see .env.example).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => cli.io.stdout.write(s), writeErr: (s) => cli.io.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)');

  const roleHelp: Record<string, string> = {
    all: 'run every role in one process (the default; ROLE sets another)',
    api: 'serve HTTP: /api.php, /api/v1, tracking, /openapi.json, /docs, /metrics',
    worker: 'deliver mail, run webhooks and periodic tasks (ops routes on OPS_PORT)',
    smtp: 'the SMTP relay front and bounce intake (ops routes on OPS_PORT)',
    migrate: 'apply database migrations and exit',
  };
  for (const role of ROLES)
    program
      .command(role)
      .description(roleHelp[role])
      .action(() => startRole(role));
  program
    .command('dev')
    .description('every role in one process on the embedded default, for trying Postern on this machine (npm start)')
    .action(() => startRole('dev'));

  program
    .command('call')
    .description('run any command in-process as the admin and print its reply as JSON')
    .argument('[command]', 'command name, e.g. users.get (see --list)')
    .argument('[params...]', 'Key=value (a string) or Key:=json (a number, true, array, object)')
    .option('--user <user>', 'act as this user (id, username or email) for user commands')
    .option('--domain <domain>', 'act for this sender domain (id or name) for sender-key commands')
    .option('--json <object>', 'all parameters as one JSON object')
    .option('--list', 'list every command and who may run it')
    .addHelpText(
      'after',
      '\nExamples:\n  postern call users.get RecordsPerRequest:=10\n  postern call emailgateway.getdomains --user ada\n  postern call emailgateway.sendemail --domain example.com --json \'{"Subject":"Hi",...}\'',
    )
    .action(async (name: string | undefined, pairs: string[], opts: { user?: string; domain?: string; json?: string; list?: boolean }) => {
      // The table needs neither the configuration nor the installation: printed even where the database is down.
      if (opts.list) return cli.printJson(listCommands());
      if (!name) throw new UsageError('name a command (postern call --list shows them)');
      await cli.act(name, async (inst) => {
        if (!(await dispatch()).lookupCommand(commands, name)) throw new UsageError(`unknown command "${name}" (postern call --list shows them)`);
        const params = parseParams(pairs, opts.json);
        const as = opts.domain ? await inst.findDomain(opts.domain) : opts.user ? { user: await inst.findUser(opts.user) } : {};
        return inst.run(name, params, as);
      });
    });

  program
    .command('backup')
    .description('copy the embedded database and the secrets beside it to a new directory, safely while the gateway runs')
    .argument('<dir>', 'a directory that does not exist yet (or is empty)')
    .addHelpText('after', '\nRestore: stop the gateway, then start it with DATA_DIR pointing at the backup (or copy the files into DATA_DIR).')
    .action((dir: string) =>
      // Before the configuration is read: a MySQL install's other settings (ENCRYPTION_KEY) need not be in this shell.
      cli.io.env.DATABASE_URL ? cli.failWith(EXIT.usage, MYSQL_BACKUP) : withConfig(cli, (config) => backupEmbedded(config, dir)),
    );

  program
    .command('reencrypt')
    .description('seal every stored secret (DKIM keys, webhook secrets) with ENCRYPTION_KEY, opening them with ENCRYPTION_KEY_PREVIOUS')
    .addHelpText('after', '\nThe key rotation, step by step: docs/secrets.md "Rotating ENCRYPTION_KEY".')
    .action(() =>
      cli.act(null, async (inst) => {
        const report = await reencryptSecrets(inst.services.db, inst.services.config);
        // Exit 1 so a rotation script stops before ENCRYPTION_KEY_PREVIOUS is dropped: those secrets need a key not given.
        if (report.Unreadable.length) cli.failWith(EXIT.failed, `${report.Unreadable.length} stored secrets open with none of the keys given`);
        else if (report.Remaining)
          cli.failWith(
            EXIT.failed,
            `${report.Remaining} stored secrets are still sealed with a previous key: run it again once every process runs the new ENCRYPTION_KEY`,
          );
        return report as unknown as Record<string, unknown>;
      }),
    );

  addShortcuts(program, cli);
  return program;
}

/** Parses argv and runs what it names; resolves to the exit code. */
export async function runCli(argv: string[], cli: Cli, startRole: (role: string) => Promise<void>): Promise<number> {
  const program = buildProgram(cli, startRole);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof UsageError) {
      cli.io.stderr.write(`postern: ${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  return cli.exitCode;
}
