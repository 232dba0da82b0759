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
  for (const [src, keepArrays] of [[query, false], [body, bodyIsJson]] as const) {
    if (!src || typeof src !== 'object' || Array.isArray(src)) continue;
    const lowered = lowercaseKeys(src) as Record<string, unknown>;
    for (const [k, v] of Object.entries(lowered)) {
      merged[k] = !keepArrays && Array.isArray(v) && v.every((x) => typeof x === 'string') ? v[v.length - 1] : v;
    }
  }
  return merged;
}

/** Octeth's truthy set: true, 1, "1", "true", "yes", "on". */
export function truthy(v: unknown): boolean {
  if (v === true || v === 1) return true;
  return typeof v === 'string' && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}
