import fs from 'node:fs';
import path from 'node:path';
import type { AuthKind, CommandDef } from '../command';
import { AUTH_FAILED, PERMISSION_DENIED } from '../errors';

/** One REST route of a table (V1_ROUTES, a dialect's ROUTES). */
export interface RestRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  command: string;
  summary?: string;
}

export interface RouteTable {
  /** Shown as the operations' tag. */
  name: string;
  routes: RestRoute[];
  /** HTTP status of a command's failure code, when the table knows it (the v1 door does). */
  statusFor?: (cmd: CommandDef, code: number) => number;
}

type Json = Record<string, unknown>;

const HARD_FAILURES: [number, number, string][] = [
  [100000, 400, 'Request body is not valid JSON'],
  [100001, 400, 'Request method other than GET or POST'],
  [100003, 400, 'Missing or unknown Command'],
  [100005, 500, 'Unhandled error (quote the request id)'],
  [100006, 413, 'Body larger than MAX_REQUEST_BYTES'],
];

const CREDENTIALS: Record<AuthKind, { params: Json; security: Json[]; text: string }> = {
  none: { params: {}, security: [], text: 'No credential.' },
  user: {
    params: { sessionid: { type: 'string', description: 'From user.login' }, apikey: { type: 'string', description: 'A user API key (user.apikey.create)' } },
    security: [{ userKey: [] }, {}],
    text: 'A user: SessionID (user.login) or APIKey (a user API key, also as `Authorization: Bearer`).',
  },
  admin: {
    params: {
      adminapikey: { type: 'string', description: "The install's AdminAPIKey" },
      sessionid: { type: 'string', description: 'An admin session (admin.login)' },
    },
    security: [{ adminKey: [] }, {}],
    text: 'The admin: AdminAPIKey (also as `Authorization: Bearer`) or an admin SessionID (admin.login).',
  },
  sender: {
    params: { senderapikey: { type: 'string', description: 'A sender API key eg_live_… (or Authorization: Bearer)' } },
    security: [{ senderKey: [] }],
    text: 'A sender API key `eg_live_…` as `Authorization: Bearer` (or SenderAPIKey).',
  },
};

/** A command's JSON Schema with references into components and the door-only flags removed. */
function commandSchema(schemaDir: string, name: string): Json {
  const text = fs.readFileSync(path.join(schemaDir, `${name}.json`), 'utf8').replace(/"_defs\.json#\/definitions\/([\w-]+)"/g, '"#/components/schemas/$1"');
  return JSON.parse(text) as Json;
}

function codeTable(codes: [number | string, string][]): string {
  return ['| Code | Meaning |', '|---|---|', ...codes.map(([c, t]) => `| ${c} | ${String(t).replace(/\|/g, '\\|')} |`)].join('\n');
}

/** Every code a command can answer: its own, the auth codes, 429 when rate-limited. */
function errorCodes(cmd: CommandDef): [number, string][] {
  const own = Object.entries(cmd.errors).map(([c, t]) => [Number(c), t] as [number, string]);
  if (cmd.auth === 'user' || cmd.auth === 'admin') own.push([AUTH_FAILED, 'Authentication failed or session expired']);
  if (cmd.auth === 'user' && cmd.permission) own.push([PERMISSION_DENIED, `Missing permission ${cmd.permission}`]);
  if (cmd.rateLimit) own.push([429, `Rate limited: API_RATE_LIMIT_PER_MINUTE requests per ${cmd.rateLimit.durationSec} s per key (Retry-After)`]);
  return own;
}

function legacyOperation(cmd: CommandDef, schemaDir: string, summary?: string): Json {
  const schema = commandSchema(schemaDir, cmd.name);
  const cred = CREDENTIALS[cmd.auth];
  const properties = { command: { const: cmd.name }, ...cred.params, ...((schema.properties as Json) ?? {}) };
  const codes = errorCodes(cmd);
  return {
    post: {
      operationId: `legacy.${cmd.name}`,
      tags: [`api.php: ${cmd.name.split('.')[0]}`],
      summary: summary ?? cmd.name,
      description: [
        `\`POST /api.php\` with \`Command=${cmd.name}\` (JSON, form fields, multipart or a query string; names are case-insensitive).`,
        cred.text + (cmd.permission ? ` Permission: \`${cmd.permission}\`.` : ''),
        typeof schema.description === 'string' ? schema.description : '',
        `Failures answer HTTP 200 with \`Success: false\` and \`ErrorCode\` (${cmd.arrayErrors ? 'an array' : 'a scalar; parameter errors as an array'}):`,
        codeTable(codes),
      ]
        .filter(Boolean)
        .join('\n\n'),
      'x-postern-command': cmd.name,
      'x-error-codes': codes.map(([code, text]) => ({ code, text })),
      security: cred.security,
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { ...schema, type: 'object', required: ['command', ...((schema.required as string[]) ?? [])], properties } } },
      },
      responses: {
        '200': {
          description: 'The legacy envelope: `Success`, `ErrorCode` and the result fields, or the failure',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/LegacyEnvelope' } } },
        },
        '400': {
          description: 'Invalid JSON (100000), bad method (100001), unknown command (100003)',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/LegacyEnvelope' } } },
        },
      },
    },
  };
}

function restOperation(table: RouteTable, route: RestRoute, cmd: CommandDef | undefined, schemaDir: string, summary?: string): Json {
  const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const schema = cmd ? commandSchema(schemaDir, cmd.name) : {};
  const props = { ...((schema.properties as Json) ?? {}) };
  for (const p of pathParams) delete props[p.toLowerCase()];
  const required = ((schema.required as string[]) ?? []).filter((r) => !pathParams.some((p) => p.toLowerCase() === r));
  const inBody = route.method === 'post' || route.method === 'put' || route.method === 'patch';
  const parameters: Json[] = pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  if (!inBody) for (const [name, s] of Object.entries(props)) parameters.push({ name, in: 'query', required: required.includes(name), schema: s });
  const codes = cmd ? errorCodes(cmd) : [];
  const byStatus = new Map<number, [number, string][]>();
  for (const c of codes) {
    const status = cmd && table.statusFor ? table.statusFor(cmd, c[0]) : 400;
    byStatus.set(status, [...(byStatus.get(status) ?? []), c]);
  }
  const responses: Json = { '200': { description: "The command's result object" } };
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    // Octeth's v1 routes answer business errors with HTTP 200 too (upstream §2.1): 200 is the result or an ErrorList.
    const errors = { $ref: '#/components/schemas/ErrorList' };
    responses[String(status)] =
      status === 200
        ? {
            description: `The command's result object, or a failure (HTTP 200, as upstream):\n\n${codeTable(list)}`,
            content: { 'application/json': { schema: { oneOf: [{ type: 'object' }, errors] } } },
          }
        : { description: `Errors:\n\n${codeTable(list)}`, content: { 'application/json': { schema: errors } } };
  }
  return {
    operationId: `${table.name}.${route.method}${route.path.replace(/[^A-Za-z0-9]+/g, '_')}`,
    tags: [table.name],
    summary: route.summary ?? summary ?? route.command,
    description: cmd
      ? `Runs \`${cmd.name}\`. ${CREDENTIALS[cmd.auth].text}${cmd.permission ? ` Permission: \`${cmd.permission}\`.` : ''}`
      : `Runs \`${route.command}\`.`,
    'x-postern-commands': [route.command],
    ...(cmd ? { security: CREDENTIALS[cmd.auth].security } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(inBody && Object.keys(props).length
      ? { requestBody: { content: { 'application/json': { schema: { type: 'object', properties: props, ...(required.length ? { required } : {}) } } } } }
      : {}),
    responses,
  };
}

const OPS_PATHS: Record<string, Json> = {
  '/healthz': {
    get: {
      operationId: 'ops.healthz',
      tags: ['operations'],
      summary: 'The process answers (every role; worker and smtp on OPS_PORT)',
      responses: { '200': { description: '`{"status":"ok","role":…}`' } },
    },
  },
  '/readyz': {
    get: {
      operationId: 'ops.readyz',
      tags: ['operations'],
      summary: 'Database and Redis answer within 2 s',
      responses: { '200': { description: 'Ready' }, '503': { description: 'A dependency is unreachable: `checks` says which' } },
    },
  },
  '/metrics': {
    get: {
      operationId: 'ops.metrics',
      tags: ['operations'],
      summary: 'Prometheus text (Bearer METRICS_TOKEN when set)',
      responses: { '200': { description: 'text/plain; version=0.0.4' }, '401': { description: 'METRICS_TOKEN is set and was not given' } },
    },
  },
  '/tls/ask': {
    get: {
      operationId: 'ops.tlsAsk',
      tags: ['operations'],
      summary: "For a TLS proxy's on-demand certificates: 200 only for the tracking host of an Enabled domain",
      parameters: [{ name: 'domain', in: 'query', required: true, schema: { type: 'string' } }],
      responses: { '200': { description: 'A tracking host of this install' }, '404': { description: 'Not one' } },
    },
  },
  '/openapi.json': {
    get: { operationId: 'ops.openapi', tags: ['operations'], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
  },
};

/**
 * The OpenAPI 3.1 document: every /api.php command as an operation (`/api.php#<command>`: one URL, one operation per
 * command) with its error codes, every REST route of every table, and the ops routes.
 */
export function buildOpenApi(opts: {
  commands: Record<string, CommandDef>;
  tables: RouteTable[];
  schemaDir: string;
  version: string;
  summaries?: Record<string, string>;
}): Json {
  const paths: Record<string, Json> = { ...OPS_PATHS };
  for (const name of Object.keys(opts.commands).sort())
    paths[`/api.php#${name}`] = legacyOperation(opts.commands[name], opts.schemaDir, opts.summaries?.[name]);
  for (const table of opts.tables) {
    for (const route of table.routes) {
      const key = route.path.replace(/:(\w+)/g, '{$1}');
      const item = (paths[key] ??= {});
      const existing = item[route.method] as Json | undefined;
      if (existing) {
        // Two tables on one method and path (the credential picks the command): one operation names both.
        (existing['x-postern-commands'] as string[]).push(route.command);
        existing.description = `${existing.description}\n\nOr \`${route.command}\` (${table.name}), chosen by the credential.`;
        continue;
      }
      const name = route.command.toLowerCase();
      item[route.method] = restOperation(table, route, opts.commands[name], opts.schemaDir, opts.summaries?.[name]);
    }
  }
  const defs = JSON.parse(fs.readFileSync(path.join(opts.schemaDir, '_defs.json'), 'utf8')) as { definitions: Json };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Postern',
      version: opts.version,
      description: [
        'A self-hosted transactional email gateway that speaks the Octeth Email Gateway API and its peers.',
        'Legacy commands are `POST /api.php` with a `Command` parameter; each has its own entry below (`/api.php#<command>`).',
        'Parameter names are case-insensitive (shown in lowercase). Hard failures of every command:',
        codeTable(HARD_FAILURES.map(([c, s, t]) => [c, `${t} (HTTP ${s})`])),
      ].join('\n\n'),
    },
    paths,
    components: {
      schemas: {
        ...defs.definitions,
        LegacyEnvelope: {
          type: 'object',
          properties: {
            Success: { type: 'boolean' },
            ErrorCode: { oneOf: [{ type: 'integer' }, { type: 'array', items: { type: 'integer' } }] },
            ErrorText: {},
          },
          required: ['Success'],
        },
        ErrorList: {
          type: 'object',
          properties: { Errors: { type: 'array', items: { type: 'object', properties: { Code: { type: 'integer' }, Message: { type: 'string' } } } } },
          required: ['Errors'],
        },
      },
      securitySchemes: {
        senderKey: { type: 'http', scheme: 'bearer', description: 'A sender API key eg_live_…' },
        userKey: { type: 'http', scheme: 'bearer', description: 'A user API key (user.apikey.create)' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'The AdminAPIKey' },
      },
    },
  };
}

/** Every `ROUTES` export of the files in src/dialects (compiled or not), so a new dialect file is picked up without edits. */
export function dialectTables(dir: string): RouteTable[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
    .flatMap((f) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(dir, f)) as { ROUTES?: RestRoute[] };
      return Array.isArray(mod.ROUTES) ? [{ name: f.replace(/\.(js|ts)$/, ''), routes: mod.ROUTES }] : [];
    });
}
