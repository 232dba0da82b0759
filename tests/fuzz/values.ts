import fc from 'fast-check';

/** Stands for the id of a fixture row (the caller's own domain, list, …), resolved when the request is sent. */
export class Ref {
  constructor(readonly name: string) {}
}

/** Stands for 1e999 in a JSON body (JSON.stringify cannot write it; JSON.parse reads it as Infinity). */
export const HUGE = '\u0001 1e999 \u0001';

/** An own enumerable `__proto__` key, which `{ __proto__: x }` literals cannot make. */
function withProtoKey(value: unknown): Record<string, unknown> {
  return Object.defineProperty({ a: 1 }, '__proto__', { value, enumerable: true, configurable: true, writable: true });
}

const nastyStrings = [
  '',
  ' ',
  '0',
  '-1',
  '-0',
  '1.5',
  '1e308',
  '-1e308',
  '1e-308',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x1F',
  '9007199254740993',
  '18446744073709551616',
  'null',
  'undefined',
  'true',
  'false',
  '[]',
  '{}',
  '{"a":1}',
  '[1,2]',
  '["x"]',
  '"quoted"',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  "' OR 1=1 --",
  '%',
  '_',
  '\\',
  '\u0000',
  'a\r\nBcc: victim@example.org',
  'x\r\n.\r\nMAIL FROM:<a@b.c>',
  '\n.\n',
  '\r.\r',
  '\u2028\u2029',
  '\ud800',
  '\uffff',
  'ünïcødé 雪 🚀',
  'a@b',
  '@',
  'a@',
  '<a@b.c>',
  'a@b.c, d@e.f',
  '"x"@y.z',
  'x@[127.0.0.1]',
  '2026-02-30',
  '2026-13-01',
  '0000-00-00',
  '9999-12-31',
  '1970-01-01T00:00:00Z',
  '00:00',
  'http://127.0.0.1:1/',
  'http://169.254.169.254/latest',
  'file:///etc/passwd',
  'javascript:alert(1)',
  '../../etc/passwd',
  '*',
  '*,*',
  'a.b,c',
  ',,,',
  '1,2,x',
  ' 1 , 2 ',
];

/** Values a careless reader mishandles: wrong types, extremes, JSON-looking strings, CR/LF, unicode, proto keys. */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(...nastyStrings) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 1e308, HUGE, -1e308, 2 ** 53, -(2 ** 31), 2 ** 32, 4294967296, 1e21) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() }, // NaN and ±Infinity travel as null in JSON
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(1000, 5000, 70_000).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom([], {}, [[]], [{}], [null], ['1', '2'], [1, 'a', null], { a: 1 }, { '': '' }, { length: 1e308 }) },
  { weight: 1, arbitrary: fc.constantFrom(withProtoKey({ polluted: true }), { constructor: { prototype: { polluted: true } } }, [withProtoKey(1)]) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null)), { maxLength: 4 }) },
);

interface PropSchema {
  type?: string | string[];
  $ref?: string;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  items?: PropSchema;
}

const REFS: Record<string, string> = {
  domainid: 'domainId',
  listid: 'listId',
  subscriberlistid: 'listId',
  subscriberid: 'subscriberId',
  templateid: 'templateId',
  webhookid: 'webhookId',
  smtpid: 'smtpId',
  userid: 'userId',
  customfieldid: 'fieldId',
  messageid: 'messageId',
  apikeyid: 'apiKeyId',
  targetlistid: 'listId',
  smtpusername: 'smtpUser',
  smtppassword: 'smtpPass',
  mailfrom: 'fromAddress',
  rawemail: 'rawEmail',
};

const smallId = fc.integer({ min: 1, max: 4 });
const dates = fc.constantFrom('2026-01-01', '2025-12-31', '2026-06-15', '1970-01-01');
const emails = fc.constantFrom('a@example.org', 'jane.doe+tag@example.net', 'sub@ref.example.com');

/** A value that passes, or nearly passes, the property's schema (so handlers past validation are reached). */
function plausible(name: string, prop: PropSchema): fc.Arbitrary<unknown> {
  if (REFS[name]) return fc.oneof({ weight: 3, arbitrary: fc.constant(new Ref(REFS[name])) }, { weight: 1, arbitrary: smallId });
  if (prop.enum) return fc.constantFrom(...prop.enum);
  if (prop.$ref?.endsWith('/flag')) return fc.constantFrom(true, false, 1, 0, '1', '0', 'yes', 'no', 'true', 'false');
  if (prop.$ref?.endsWith('/id')) return smallId;
  if (/date$/.test(name)) return dates;
  if (/email|address|recipient|mailfrom|rcptto/.test(name) && !/ip/.test(name)) return emails;
  if (/ip(address)?$/.test(name)) return fc.constantFrom('192.0.2.1', '2001:db8::1', '127.0.0.1');
  if (/url$/.test(name)) return fc.constantFrom('https://hooks.example.org/in', 'http://127.0.0.1:9/x');
  if (name === 'domain' || name === 'domainname' || name === 'recipienttodomain') return fc.constantFrom('example.org', 'mail.example.com');
  if (prop.pattern) return fc.stringMatching(new RegExp(prop.pattern)).filter((s) => s.length < 200);
  const types = Array.isArray(prop.type) ? prop.type : prop.type ? [prop.type] : ['string'];
  if (types.includes('integer')) return fc.integer({ min: Math.max(prop.minimum ?? 0, -5), max: Math.min(prop.maximum ?? 100, 100) });
  if (types.includes('array')) return fc.array(prop.items ? plausible('item', prop.items) : fc.string(), { maxLength: 3 });
  if (types.includes('object')) return fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 });
  return fc.string({ maxLength: 24 });
}

const ABSENT = Symbol('absent');

/** A property kept plausible, made hostile, or left out. */
function slot(name: string, prop: PropSchema): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: plausible(name, prop) }, { weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(ABSENT) });
}

/** Writes a key as a client might: the schema's lowercase, Capitalised, or UPPER (the door matches any case). */
const casing = fc.constantFrom(
  (k: string) => k,
  (k: string) => k.charAt(0).toUpperCase() + k.slice(1),
  (k: string) => k.toUpperCase(),
);

/** Extra keys a hostile client adds beside the real ones. */
const strayKeys = fc.array(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'x', ''), hostile), { maxLength: 2 });

/**
 * Parameters for one request: every property of the command's schema (plus `extra` example fields for
 * commands whose schema leaves validation to code) plausible, hostile or absent, under random key casing,
 * with stray keys.
 */
export function paramsArb(schemaProps: Record<string, PropSchema>, extra: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<Record<string, unknown>> {
  const slots: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, prop] of Object.entries(schemaProps)) slots[name] = slot(name, prop);
  for (const [name, arb] of Object.entries(extra)) {
    slots[name] = fc.oneof({ weight: 4, arbitrary: arb }, { weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(ABSENT) });
  }
  return fc.tuple(fc.record(slots), casing, strayKeys).map(([values, cased, strays]) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of strays) Object.defineProperty(out, k, { value: v, enumerable: true, configurable: true, writable: true });
    for (const [k, v] of Object.entries(values)) if (v !== ABSENT) out[cased(k)] = v;
    return out;
  });
}

/** Replaces every Ref by the fixture id it names. */
export function resolveRefs(value: unknown, ids: Record<string, unknown>): unknown {
  if (value instanceof Ref) return ids[value.name];
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, ids));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, { value: resolveRefs(v, ids), enumerable: true, configurable: true, writable: true });
    return out;
  }
  return value;
}
