/** A message's `tags` column as the send path, the worker and the statistics read it: distinct non-empty strings of at most 100 characters. */
export function parseTags(raw: unknown): string[] {
  try {
    const v = JSON.parse(String(raw ?? '[]'));
    return Array.isArray(v) ? [...new Set(v.filter((t): t is string => typeof t === 'string' && t !== '' && t.length <= 100))] : [];
  } catch {
    return [];
  }
}
