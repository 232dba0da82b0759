import type { Params } from '../command';
import { lowercaseKeys } from '../http/params';
import { UsageError } from './usage-error';

/**
 * Command parameters from the command line, keyed case-insensitively as the HTTP doors key them:
 * `Key=text` gives a string, `Key:=json` a JSON value (number, true, array, object), and `--json '{…}'` a whole
 * object that the pairs then extend.
 */
export function parseParams(pairs: string[], json?: string): Params {
  const out: Record<string, unknown> = {};
  if (json !== undefined) {
    const parsed = parseJson(json, '--json');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('--json must be a JSON object');
    Object.assign(out, parsed);
  }
  for (const pair of pairs) {
    const m = /^([A-Za-z][\w.]*)(:?=)([\s\S]*)$/.exec(pair);
    if (!m) throw new UsageError(`"${pair}" is not Key=value or Key:=json`);
    out[m[1]] = m[2] === ':=' ? parseJson(m[3], m[1]) : m[3];
  }
  return lowercaseKeys(out) as Params;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what}: not valid JSON (${(err as Error).message})`);
  }
}
