import v8 from 'node:v8';

/**
 * Caps how far the old generation may grow past the live heap before the next full GC (V8 reads this flag each
 * time it sets the next limit, so setting it after start-up takes effect from the next GC). By default V8 lets a
 * heap on a large machine grow to 4× what survived; a batch send leaves seconds-old garbage that is promoted,
 * so the api's RSS rose to several times its live heap. Returns whether it applied the setting: not when 0, and
 * not when the operator passed the flag to node (NODE_OPTIONS or the command line), which wins.
 */
export function limitHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent\b/.test(a));
  if (percent <= 0 || given) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}
