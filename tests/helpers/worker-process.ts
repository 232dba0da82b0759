import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { childEnv, Harness } from './harness';
import { keepChildErrors } from './log-lines';

const MAIN = path.resolve(__dirname, '../../dist/src/main.js');

/**
 * The built worker (`node dist/src/main.js worker`) as a separate process on the harness's MariaDB and Redis,
 * relaying to `relayPort`, with short leases and sweeps so a killed one's work is taken over quickly.
 */
export function spawnWorker(h: Harness, relayPort: number, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [MAIN, 'worker'], {
    env: {
      PATH: process.env.PATH,
      ...childEnv(h),
      DELIVERY_MODE: 'relay',
      SMTP_RELAY_URL: `smtp://127.0.0.1:${relayPort}`,
      LEASE_SECONDS: '3',
      SWEEP_INTERVAL_SECONDS: '1',
      SWEEP_GRACE_SECONDS: '1',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its error lines reach the output of a test that fails while it runs.
  keepChildErrors(child, 'worker');
  return child;
}
