import qs from 'qs';
import supertest from 'supertest';
import type { CommandDef } from '../../src/command';
import { V1_ROUTES } from '../../src/v1/router';
import type { Caller } from './fixtures';
import { HUGE } from './values';

/** How one fuzzed request went out and what came back. */
export interface Exchange {
  door: string;
  status: number;
  type: string;
  body: any;
  text: string;
  headers: Record<string, string>;
}

type Agent = ReturnType<typeof supertest>;

/** The credential parameters (or header) of the command's auth kind; `variant` picks between its two forms. */
function credentials(cmd: CommandDef, c: Caller, variant: number): { params: Record<string, unknown>; bearer?: string } {
  switch (cmd.auth) {
    case 'user':
      return variant ? { params: { APIKey: c.apiKey } } : { params: { SessionID: c.sessionId } };
    case 'admin':
      return variant ? { params: { SessionID: c.adminSession } } : { params: { AdminAPIKey: c.adminKey } };
    case 'sender':
      return variant ? { params: { SenderAPIKey: c.senderKey } } : { params: {}, bearer: c.senderKey };
    default:
      return { params: {} };
  }
}

/** Own-property copy, so a `__proto__` key from the fuzzer survives as data. */
function merged(...parts: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of parts)
    for (const [k, v] of Object.entries(p)) Object.defineProperty(out, k, { value: v, enumerable: true, configurable: true, writable: true });
  return out;
}

/** JSON text with 1e999 where the fuzzer asked for it. */
function jsonText(body: unknown): string {
  return JSON.stringify(body).replaceAll(JSON.stringify(HUGE), '1e999');
}

/** A form or query string (1e999 as text). */
function formText(body: unknown): string {
  return qs.stringify(JSON.parse(JSON.stringify(body).replaceAll(JSON.stringify(HUGE), '"1e999"')));
}

function exchange(door: string, res: supertest.Response): Exchange {
  return {
    door,
    status: res.status,
    type: String(res.headers['content-type'] ?? ''),
    body: res.body,
    text: res.text ?? '',
    headers: res.headers as Record<string, string>,
  };
}

/** `/api.php` with a JSON body or a form body. */
export async function legacyDoor(agent: Agent, cmd: CommandDef, c: Caller, params: Record<string, unknown>, variant: number, form: boolean): Promise<Exchange> {
  const cred = credentials(cmd, c, variant);
  const body = merged(params, cred.params, { Command: cmd.name });
  let req = agent.post('/api.php').set('Content-Type', form ? 'application/x-www-form-urlencoded' : 'application/json');
  if (cred.bearer) req = req.set('Authorization', `Bearer ${cred.bearer}`);
  return exchange(form ? 'api.php form' : 'api.php json', await req.send(form ? formText(body) : jsonText(body)));
}

/** Every v1 route of the command: path parameters from the fuzzed values, the rest as query (GET) or JSON body. */
export async function v1Doors(agent: Agent, cmd: CommandDef, c: Caller, params: Record<string, unknown>, variant: number): Promise<Exchange[]> {
  const out: Exchange[] = [];
  for (const route of V1_ROUTES.filter((r) => r.command === cmd.name)) {
    const rest = merged(params);
    const path = route.path.replace(/:(\w+)/g, (_m, name: string) => {
      const key = Object.keys(rest).find((k) => k.toLowerCase() === name);
      const v = key === undefined ? 'x' : rest[key];
      if (key !== undefined) delete rest[key];
      return encodeURIComponent(typeof v === 'string' ? v : (JSON.stringify(v) ?? 'x'));
    });
    // On v1, user and admin routes take their key as a Bearer token (MX, PowerMTA and contacts integrations).
    const bearer = cmd.auth === 'user' ? c.apiKey : cmd.auth === 'admin' ? c.adminKey : cmd.auth === 'sender' && !variant ? c.senderKey : undefined;
    const cred = cmd.auth === 'sender' && variant ? { SenderAPIKey: c.senderKey } : {};
    const all = merged(rest, cred);
    let req =
      route.method === 'get' ? agent.get(`${path}?${formText(all)}`) : agent[route.method](path).set('Content-Type', 'application/json').send(jsonText(all));
    if (bearer) req = req.set('Authorization', `Bearer ${bearer}`);
    out.push(exchange(`v1 ${route.method.toUpperCase()} ${route.path}`, await req));
  }
  return out;
}

/**
 * What is wrong with a reply, or null: never a 5xx, and always the door's own envelope. The 5xx allowed: the MX
 * relay-domain check's contract answer for a denied domain (`500 {}`), which is not an error reply, and an Enabled
 * domain's verification's 503 when DNS gives no answer.
 */
export function envelopeProblem(cmd: CommandDef, x: Exchange): string | null {
  const isJson = x.type.includes('application/json');
  if (x.door.includes('inbound-relay-domain-check') && x.status === 500 && x.text === '{}') return null;
  // An Enabled domain's verification whose DNS lookups get no answer (the harness's resolver answers none) changes
  // nothing and says "retry": 503 with 100007 in the door's envelope, checked below like any other reply.
  const retryLater = x.status === 503 && /verify/.test(cmd.name) && JSON.stringify(x.body ?? '').includes('100007');
  if (x.status >= 500 && !retryLater) return `HTTP ${x.status}`;
  // Node's HTTP parser refuses a request line or headers over 16 KiB before the app sees them.
  if (x.status === 431 && x.text === '') return null;
  if (!isJson) {
    const download = x.status === 200 && /^text\/(csv|plain)/.test(x.type);
    return download ? null : `non-JSON reply ${x.type} with HTTP ${x.status}`;
  }
  const b = x.body;
  if (!b || typeof b !== 'object') return 'reply is not a JSON object';
  const legacyShape = x.door.startsWith('api.php') || x.door.includes('sender.domains');
  if (legacyShape) {
    if (typeof b.Success !== 'boolean') return 'no boolean Success';
    if (b.Success) {
      if (x.status !== 200) return `Success with HTTP ${x.status}`;
      return cmd.omitSuccessErrorCode || b.ErrorCode === 0 ? null : `Success with ErrorCode ${JSON.stringify(b.ErrorCode)}`;
    }
    const codes = Array.isArray(b.ErrorCode) ? b.ErrorCode : [b.ErrorCode];
    if (!codes.length || !codes.every((n: unknown) => Number.isInteger(n) && (n as number) > 0)) return `bad ErrorCode ${JSON.stringify(b.ErrorCode)}`;
    const foreign = codes.filter((n: number) => n < 99998 && !Object.prototype.hasOwnProperty.call(cmd.errors, n));
    if (foreign.length) return `ErrorCode ${foreign.join(',')} is not one of the command's own codes`;
    if (b.ErrorText === undefined) return 'failure without ErrorText';
    if (codes.some((n: number) => n >= 100000) && !Array.isArray(b.Errors)) return 'hard failure without Errors[]';
    return null;
  }
  if (x.status >= 400) {
    const errs = b.Errors;
    if (!Array.isArray(errs) || !errs.length) return 'v1 failure without Errors[]';
    if (!errs.every((e: any) => Number.isInteger(e?.Code) && typeof e?.Message === 'string' && e.Message)) return 'v1 Errors[] entry without Code and Message';
  }
  return null;
}
