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
      if (parsed && typeof parsed === 'object') params[k] = lowercaseKeys(parsed);
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
