import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/*
 * Ports for listeners that must be named before they start (a child role's PORT, a private MariaDB).
 * Asking the kernel for port 0 and closing it again was racy: the kernel hands the same range (32768–60999)
 * to every `listen(0)` and outgoing connection of the other jest worker, so a supertest server could take the
 * port before our child bound it, and the child's health check then reached someone else's gateway (CI failed
 * so on 2026-11-29). These ports come from below that range, where nothing is handed out by the kernel, and
 * each is claimed with a lock file (O_EXCL), so two test processes never pick the same one.
 */
const LOW = 20_000;
const HIGH = 32_000; // exclusive; below net.ipv4.ip_local_port_range's usual 32768
const CLAIM_MS = 10 * 60_000; // a claim older than this is stale even if its pid runs (pids are reused)
const dir = path.join(os.tmpdir(), 'postern-test-ports');
const mine = new Set<string>();

process.once('exit', () => {
  for (const f of mine) fs.rmSync(f, { force: true });
});

/** Whether the process that wrote a claim still runs (jest ends its workers without their exit handlers). */
function ownerAlive(file: string): boolean {
  const pid = Number(fs.readFileSync(file, 'utf8'));
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function claim(port: number): boolean {
  const file = path.join(dir, String(port));
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    try {
      if (ownerAlive(file) && Date.now() - fs.statSync(file).mtimeMs < CLAIM_MS) return false;
      fs.rmSync(file, { force: true }); // stale: its owner ended, or a reused pid holds it for too long
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      return false;
    }
  }
  mine.add(file);
  return true;
}

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A port free on 127.0.0.1, outside the kernel's ephemeral range and claimed by this process alone. */
export async function freePort(): Promise<number> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!claim(port)) continue;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${LOW}-${HIGH} after 200 tries`);
}
