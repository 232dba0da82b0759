/**
 * Per-destination limits (issue 17 §5): how fast Postern may hand mail to one receiving domain, or to every domain
 * whose mail goes to one MX provider. Built-in defaults cover the large mailbox providers; THROTTLE_RULES overrides
 * or adds to them (docs/queue-and-throttling.md).
 */

export interface Limits {
  /** Messages handed over per minute (spread evenly: see src/throttle/gate.ts). Unset = no rate limit. */
  messagesPerMinute?: number;
  /** Connections (sends in flight) open to the destination at once. Unset = no limit beyond DELIVERY_CONCURRENCY. */
  connections?: number;
  /** Messages sent over one connection before it is closed and a new one opened. */
  messagesPerConnection?: number;
}

/** One destination: a named group of recipient domains sharing one budget, or an MX host suffix (`mx:google.com`). */
export interface Rule {
  /** The budget's name (a metrics label and the key of its counters). */
  name: string;
  domains: string[];
  /** Host suffix matched against the first MX host of the recipient domain (mx rules only). */
  mxSuffix?: string;
  limits: Limits;
}

export interface ThrottleRules {
  rules: Rule[];
  /** Limits of every destination no rule names (none by default). */
  fallback: Limits | null;
}

/**
 * Starting points, well under what these providers are known to accept from a warmed-up sender: enough for
 * transactional volume, low enough that a new IP is not rate-limited on its first burst. Each group shares one budget.
 */
export const BUILT_IN_RULES: Rule[] = [
  { name: 'gmail.com', domains: ['gmail.com', 'googlemail.com'], limits: { messagesPerMinute: 1200, connections: 10, messagesPerConnection: 100 } },
  { name: 'outlook.com', domains: ['outlook.com', 'hotmail.com', 'live.com'], limits: { messagesPerMinute: 600, connections: 5, messagesPerConnection: 50 } },
  { name: 'yahoo.com', domains: ['yahoo.com', 'aol.com'], limits: { messagesPerMinute: 300, connections: 5, messagesPerConnection: 50 } },
  { name: 'icloud.com', domains: ['icloud.com'], limits: { messagesPerMinute: 300, connections: 5, messagesPerConnection: 50 } },
];

const FIELDS: Record<string, keyof Limits> = {
  messagesperminute: 'messagesPerMinute',
  connections: 'connections',
  messagesperconnection: 'messagesPerConnection',
};
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

function limitsOf(where: string, raw: unknown, base: Limits = {}): Limits {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where} must be an object such as {"MessagesPerMinute":600,"Connections":5}`);
  const out: Limits = { ...base };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const field = FIELDS[k.toLowerCase()];
    if (!field) throw new Error(`${where}: unknown field "${k}" (MessagesPerMinute, Connections, MessagesPerConnection)`);
    if (v === null) delete out[field];
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000) throw new Error(`${where}.${k} must be a whole number from 1 to 1000000`);
    else out[field] = v;
  }
  return out;
}

/**
 * THROTTLE_RULES: a JSON object. Keys are a recipient domain (a built-in group's member overrides that group, and a
 * partial object keeps the other built-in figures), `mx:<host suffix>` (every domain whose first MX host ends so),
 * or `default` (every other destination). `null` removes a rule. Throws with a message naming the bad part.
 */
export function parseThrottleRules(raw: string | undefined): ThrottleRules {
  const rules = BUILT_IN_RULES.map((r) => ({ ...r, domains: [...r.domains], limits: { ...r.limits } }));
  let fallback: Limits | null = null;
  if (raw === undefined || raw.trim() === '') return { rules, fallback };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`THROTTLE_RULES is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error('THROTTLE_RULES must be a JSON object keyed by domain, mx:<suffix> or default');
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const k = key.trim().toLowerCase().replace(/\.$/, '');
    const where = `THROTTLE_RULES["${key}"]`;
    if (k === 'default') {
      fallback = value === null ? null : limitsOf(where, value);
      continue;
    }
    const mx = k.startsWith('mx:');
    const name = mx ? k.slice(3).replace(/^\./, '') : k;
    if (!DOMAIN.test(name)) throw new Error(`${where}: "${key}" is not a domain, mx:<host suffix> or default`);
    const at = rules.findIndex((r) => (mx ? r.mxSuffix === name : !r.mxSuffix && r.domains.includes(name)));
    if (value === null) {
      if (at >= 0) rules.splice(at, 1);
      continue;
    }
    if (at >= 0) rules[at].limits = limitsOf(where, value, rules[at].limits);
    else
      rules.push(
        mx ? { name: `mx:${name}`, domains: [], mxSuffix: name, limits: limitsOf(where, value) } : { name, domains: [name], limits: limitsOf(where, value) },
      );
  }
  return { rules, fallback };
}

/** The budget a recipient domain falls under: its own (or its group's) rule, else an MX rule, else the fallback. */
export function ruleFor(t: ThrottleRules, domain: string, mxHosts: string[] = []): Rule | null {
  const d = domain.toLowerCase();
  const own = t.rules.find((r) => !r.mxSuffix && r.domains.includes(d));
  if (own) return own;
  const first = mxHosts[0]?.toLowerCase().replace(/\.$/, '');
  if (first) {
    const mx = t.rules.find((r) => r.mxSuffix && (first === r.mxSuffix || first.endsWith(`.${r.mxSuffix}`)));
    if (mx) return mx;
  }
  return t.fallback ? { name: d, domains: [d], limits: t.fallback } : null;
}
