import crypto from 'node:crypto';
import { commands } from '../../commands';
import type { Params, Services, UserRow } from '../command';
import { type Config, loadConfig } from '../config';
import { ensureDatabase } from '../ensure-database';
import { migrateLatest } from '../db';
import { createDispatcher, Dispatcher, RequestMeta } from '../dispatch';
import type { DomainRow } from '../domains/domains';
import { createLogger } from '../logger';
import { buildServices, closeServices } from '../services';
import { Validator } from '../validation';
import { UsageError } from './usage-error';

/** The installation the CLI acts on: the same database, queue and config as the roles, read from the same environment. */
export interface Installation {
  services: Services;
  dispatcher: Dispatcher;
  /** Runs a command as the installation's admin, or as the user or sender domain given. */
  run(command: string, params: Params, as?: { user?: UserRow; domain?: DomainRow }): Promise<Record<string, unknown>>;
  findUser(ref: string): Promise<UserRow>;
  /** A sender domain by id or name, with its owner. */
  findDomain(ref: string): Promise<{ domain: DomainRow; user: UserRow }>;
  close(): Promise<void>;
}

/** What an action does with the installation open; resolves to what is printed as JSON. */
export type Action = (inst: Installation) => Promise<Record<string, unknown>>;

/** `config` is the one read from `env` when the caller has read it already (src/cli/program.ts, before loading this file). */
export async function openInstallation(env: Record<string, string | undefined>, config: Config = loadConfig(env, 'migrate')): Promise<Installation> {
  if (config.databaseUrl) await ensureDatabase(config.databaseUrl); // as the roles do: a missing database is created or named
  // Logs go to stderr at warn and above: stdout carries the answer.
  const services = buildServices(config, createLogger(env.LOG_LEVEL ? config.logLevel : 'warn', false, 'stderr'));
  try {
    await migrateLatest(services.db); // as every role does at start: a fresh embedded install works at once
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  const dispatcher = createDispatcher(services, commands, new Validator(commands));
  const db = services.db;

  async function findUser(ref: string): Promise<UserRow> {
    const q = db('users');
    if (/^\d+$/.test(ref)) q.where({ id: Number(ref) });
    else q.whereRaw('lower(username) = ?', [ref.toLowerCase()]).orWhereRaw('lower(email_address) = ?', [ref.toLowerCase()]);
    const rows = (await q.limit(2)) as UserRow[];
    if (rows.length !== 1)
      throw new UsageError(rows.length ? `"${ref}" names more than one user: give the UserID` : `no user "${ref}" (give a UserID, username or email address)`);
    return rows[0];
  }

  async function findDomain(ref: string): Promise<{ domain: DomainRow; user: UserRow }> {
    const q = db('sender_domains');
    if (/^\d+$/.test(ref)) q.where({ id: Number(ref) });
    else q.where({ domain: ref.toLowerCase().replace(/\.$/, '') });
    const rows = (await q.limit(2)) as DomainRow[];
    if (rows.length !== 1)
      throw new UsageError(
        rows.length ? `"${ref}" names more than one sender domain: give the DomainID` : `no sender domain "${ref}" (give a DomainID or domain name)`,
      );
    return { domain: rows[0], user: await findUser(String(rows[0].user_id)) };
  }

  return {
    services,
    dispatcher,
    findUser,
    findDomain,
    async run(command, params, as = {}) {
      const meta: RequestMeta = { requestId: `cli-${crypto.randomUUID()}`, ip: '127.0.0.1', door: 'cli', trusted: as };
      return (await dispatcher.run(command, params, meta)).result;
    },
    close: async () => {
      // Lets a fire-and-forget enqueue that a send started reach the queue before it closes.
      await new Promise((r) => setImmediate(r));
      await closeServices(services);
    },
  };
}
