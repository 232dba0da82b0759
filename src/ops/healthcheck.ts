#!/usr/bin/env node
/**
 * The image's HEALTHCHECK: asks the process in this container for /readyz on the port its role serves (PORT for
 * all/api, OPS_PORT for worker/smtp). The role is read from the container's main command line (/proc/1/cmdline),
 * else ROLE; `migrate` has nothing to ask and counts as healthy. Exit 0 healthy, 1 not.
 */
import fs from 'node:fs';
import { loadConfig, ROLES } from '../config';

export function healthUrl(mainArgs: string[], env: Record<string, string | undefined>): string | null {
  const role = mainArgs.find((a) => (ROLES as readonly string[]).includes(a.toLowerCase()));
  const config = loadConfig(env, role);
  if (config.role === 'migrate') return null;
  const port = config.role === 'all' || config.role === 'api' ? config.port : config.opsPort;
  return `http://127.0.0.1:${port}/readyz`;
}

async function main(): Promise<void> {
  let args: string[] = [];
  try {
    args = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').slice(2);
  } catch {
    // not in a container with a readable /proc: ROLE decides
  }
  const url = healthUrl(args, process.env);
  if (!url) process.exit(0);
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
}

if (require.main === module) main().catch(() => process.exit(1));
