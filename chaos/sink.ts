import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** The counting SMTP sink: how often each recipient got a message, and when the first one arrived. */
export interface CountingSink {
  port: number;
  /** Receipts per recipient (lowercase). */
  counts: Map<string, number>;
  /** Time of each receipt, in order. */
  times: number[];
  /** Times of each receipt of a recipient received more than once. */
  repeats: Map<string, number[]>;
  /** Receipts in all. */
  total(): number;
  close(): Promise<void>;
}

export async function startCountingSink(): Promise<CountingSink> {
  const counts = new Map<string, number>();
  const times: number[] = [];
  const first = new Map<string, number>();
  const repeats = new Map<string, number[]>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    size: 50 * 1024 * 1024,
    onData(stream, session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        const now = Date.now();
        for (const r of session.envelope.rcptTo) {
          const to = r.address.toLowerCase();
          counts.set(to, (counts.get(to) ?? 0) + 1);
          times.push(now);
          if (!first.has(to)) first.set(to, now);
          else repeats.set(to, [...(repeats.get(to) ?? [first.get(to)!]), now]);
        }
        cb(null);
      });
    },
  });
  server.on('error', () => undefined); // a worker killed mid-session is part of the exercise
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    counts,
    times,
    repeats,
    total: () => times.length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
