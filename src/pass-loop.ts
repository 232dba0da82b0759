/**
 * A background task that runs in passes: `runOnce` shares a pass already running instead of starting a second, and
 * the timer starts the next pass `everyMs` after the last one ended (so passes never overlap, however long they
 * take). `stop` ends the timer and waits for a running pass. For the worker's periodic jobs (DNS watch, reputation
 * guard); `timer: false` leaves the passes to the caller (tests drive them with their own clock).
 */
export function passLoop<T>(
  pass: (now: number) => Promise<T>,
  opts: { clock: () => number; timer: boolean; firstMs: number; everyMs: number; onError: (err: Error) => void },
): { runOnce(now?: number): Promise<T>; stop(): Promise<void> } {
  let running: Promise<T> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const runOnce = (now = opts.clock()) => (running ??= pass(now).finally(() => (running = null)));
  if (opts.timer) {
    const tick = () =>
      runOnce()
        .catch(opts.onError)
        .finally(() => {
          if (timer) timer = setTimeout(tick, opts.everyMs).unref();
        });
    timer = setTimeout(tick, opts.firstMs).unref();
  }
  return {
    runOnce,
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running?.catch(() => undefined);
    },
  };
}
