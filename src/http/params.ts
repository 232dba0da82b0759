/**
 * Lowercases every key at every depth (Octeth's dispatcher does the same), dropping prototype-polluting names.
 * Nested objects are plain objects, not null-prototype ones: a reader that coerces a value where a client sent an
 * object (`Number(v)`, `String(v)`, a template literal) gets NaN or "[object Object]" and answers the command's
 * code, instead of a TypeError and a 500. Dropping the names is what keeps the prototype safe.
 */
export function lowercaseKeys(value: unknown, depth = 0): unknown {
  if (depth > 32 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => lowercaseKeys(v, depth + 1));
  const out: Record<string, unknown> = depth === 0 ? Object.create(null) : {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = k.toLowerCase();
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    out[key] = lowercaseKeys(v, depth + 1);
  }
  return out;
}

/** Nesting a request body may have: no parameter needs more than a few levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether a parsed JSON value nests objects or arrays deeper than `max`. JSON.parse takes a million levels; the
 * recursive code that reads parameters later (the Idempotency-Key fingerprint, key lowercasing) overflowed the stack
 * on them: a 500 where a 400 belonged. Recursive itself, but it stops at `max`, so its own stack stays shallow; it
 * allocates nothing per node (an explicit stack of pairs cost 15 % of a batch body's JSON.parse).
 */
export function nestsDeeper(value: unknown, max: number, depth = 0): boolean {
  if (depth > max) return true;
  if (Array.isArray(value)) {
    for (const child of value) if (child !== null && typeof child === 'object' && nestsDeeper(child, max, depth + 1)) return true;
    return false;
  }
  for (const key in value as Record<string, unknown>) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== null && typeof child === 'object' && nestsDeeper(child, max, depth + 1)) return true;
  }
  return false;
}

/**
 * Merges query-string and body parameters into one lowercase-keyed object; body wins.
 * In query strings and form bodies a repeated plain key (`a=1&a=2`) keeps its last value, as PHP does;
 * JSON bodies keep their arrays.
 */
export function collectParams(query: unknown, body: unknown, bodyIsJson: boolean): Record<string, unknown> {
  const merged: Record<string, unknown> = Object.create(null);
  for (const [src, keepArrays] of [
    [query, false],
    [body, bodyIsJson],
  ] as const) {
    if (!src || typeof src !== 'object' || Array.isArray(src)) continue;
    const lowered = lowercaseKeys(src) as Record<string, unknown>;
    for (const [k, v] of Object.entries(lowered)) {
      merged[k] = !keepArrays && Array.isArray(v) && v.every((x) => typeof x === 'string') ? v[v.length - 1] : v;
    }
  }
  return merged;
}

/**
 * The keys whose value came from a query string or a form/multipart body (not from a JSON body, which wins):
 * their structured values can only arrive as JSON text (`To=[{"email":…}]`, upstream §1.1).
 */
export function textSourcedKeys(query: unknown, body: unknown, bodyIsJson: boolean): Set<string> {
  const keys = new Set<string>();
  for (const [src, text] of [
    [query, true],
    [body, !bodyIsJson],
  ] as const) {
    if (!src || typeof src !== 'object' || Array.isArray(src)) continue;
    for (const k of Object.keys(src)) {
      if (text) keys.add(k.toLowerCase());
      else keys.delete(k.toLowerCase());
    }
  }
  return keys;
}

/**
 * Decodes the JSON text of a structured value sent as a form field or query parameter (`From={"name":…}`,
 * `To=[…]`; upstream §1.1): a value that reads as a JSON object or array becomes one, keys lowercased.
 * Anything else, and keys `keepText` names (parameters a command declares as strings), stay as sent.
 */
export function decodeJsonText(params: Record<string, unknown>, keys: Iterable<string>, keepText: (key: string) => boolean): void {
  for (const k of keys) {
    const v = params[k];
    if (typeof v !== 'string' || keepText(k)) continue;
    const t = v.trim();
    if (!((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']')))) continue;
    try {
      const parsed: unknown = JSON.parse(t);
      // Nested past what a body may be (MAX_JSON_DEPTH), it stays text: the command's schema then refuses it.
      if (parsed && typeof parsed === 'object' && !nestsDeeper(parsed, MAX_JSON_DEPTH)) params[k] = lowercaseKeys(parsed);
    } catch {
      // Not JSON after all: the command sees the text it was sent.
    }
  }
}

/** Octeth's truthy set: true, 1, "1", "true", "yes", "on". */
export function truthy(v: unknown): boolean {
  if (v === true || v === 1) return true;
  return typeof v === 'string' && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}
