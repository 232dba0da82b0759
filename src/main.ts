#!/usr/bin/env node
import type { Running, StartOptions } from './roles';
import { Config, ConfigError, loadConfig, ROLES } from './config';
import { devEnvironment } from './domains/dev-mode';
import { DatabaseSetupError } from './ensure-database';
import { limitHeapGrowth } from './heap-growth';

export type { Running };

/**
 * Starts the roles the config asks for; resolves once listening (src/roles.ts). Imported here, not at the top: a
 * CLI command (src/cli/) or a configuration refused does not load the gateway's servers.
 */
export async function start(config: Config, opts: StartOptions = {}): Promise<Running> {
  return (await import('./roles')).start(config, opts);
}

/** Runs a role until a signal stops it (`migrate` exits when done). */
async function startRole(roleArg: string | undefined): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, roleArg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`postern: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  limitHeapGrowth(config.heapGrowingPercent);
  // Signals are caught from the first moment: one that arrives while the roles are still starting (the api
  // may already answer) stops the process cleanly once start-up has finished, instead of killing it.
  let started: Promise<Running> | null = null;
  let stopping = false;
  if (config.role !== 'migrate') {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        if (stopping) return;
        stopping = true;
        void (started ?? Promise.reject(new Error('not started')))
          .then(async (r) => {
            r.services.logger.info('shutting down', { signal });
            await r.stop();
          })
          .then(
            () => process.exit(0),
            () => process.exit(1),
          );
      });
    }
  }
  try {
    started = start(config);
    await started;
  } catch (err) {
    const what = err instanceof ConfigError ? 'invalid configuration: ' : err instanceof DatabaseSetupError ? 'database not ready: ' : 'failed to start: ';
    process.stderr.write(`postern: ${what}${(err as Error).message}\n`);
    process.exit(1);
  }
}

/** `postern [role]` starts a role; any other first word is a CLI command (src/cli/). */
async function main(): Promise<void> {
  const first = process.argv[2];
  const start = (role?: string): Promise<void> => {
    if (role !== 'dev') return startRole(role);
    process.env = devEnvironment(process.env);
    return startRole('all');
  };
  // `postern dev --help` (or a role's) prints the command's help through the CLI instead of starting the gateway.
  const help = process.argv.slice(3).some((a) => a === '--help' || a === '-h');
  if (!help && (first === undefined || first === 'dev' || (ROLES as readonly string[]).includes(first.toLowerCase()))) return start(first);
  // Only what a command needs loads (src/cli/program.ts): not the roles' servers.
  const { Cli, runCli } = await import('./cli/program');
  const cli = new Cli({ env: process.env, stdout: process.stdout, stderr: process.stderr });
  const code = await runCli(process.argv, cli, start);
  // Exit once the answer is written: a client library's idle timer must not keep the CLI waiting.
  process.stdout.write('', () => process.exit(code));
}

if (require.main === module) void main();
