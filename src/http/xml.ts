/** Octeth's XML reply: root <response>, scalars in CDATA, list items as <node_0>, <node_1>, … */
export function toXml(body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<response>${children(body)}</response>\n`;
}

function cdata(s: string): string {
  // A literal "]]>" cannot sit inside one CDATA section: split it across two.
  return `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

function tagName(key: string): string {
  const cleaned = key.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `node_${cleaned}`;
}

function element(name: string, value: unknown): string {
  const tag = tagName(name);
  if (value === null || value === undefined) return `<${tag}/>`;
  if (Array.isArray(value)) return `<${tag}>${value.map((v, i) => element(`node_${i}`, v)).join('')}</${tag}>`;
  if (typeof value === 'object') return `<${tag}>${children(value as Record<string, unknown>)}</${tag}>`;
  if (typeof value === 'boolean') return `<${tag}>${cdata(value ? 'true' : 'false')}</${tag}>`;
  return `<${tag}>${cdata(String(value))}</${tag}>`;
}

function children(obj: Record<string, unknown>): string {
  return Object.entries(obj)
    .map(([k, v]) => element(k, v))
    .join('');
}
