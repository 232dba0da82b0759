/**
 * The deployment files as an operator uses them, checked without a Docker engine: docker-compose.yml (one image,
 * healthchecks on ports the roles serve, migrations first, only variables Postern reads), .env.example (every
 * variable the config module reads, with its default, sourceable), the Dockerfile's healthcheck, Caddy's ask URL.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Config, loadConfig } from '../../src/config';
import { healthUrl } from '../../src/ops/healthcheck';
import { trackingRoutes } from '../../src/tracking/routes';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** Every variable loadConfig reads (it reads each one whatever the others say). */
function configVariables(): Set<string> {
  const seen = new Set<string>();
  loadConfig(new Proxy({}, { get: (_t, k) => (typeof k === 'string' && seen.add(k), undefined) }));
  return seen;
}

/** KEY="value" lines of .env.example, in order. */
function envExample(): { key: string; value: string; line: number }[] {
  const lines = read('.env.example').split('\n');
  return lines.flatMap((text, line) => {
    if (!text || text.startsWith('#')) return [];
    const m = /^([A-Z][A-Z0-9_]*)="([^"\\$`]*)"$/.exec(text);
    if (!m) throw new Error(`.env.example line ${line + 1} is not KEY="value": ${text}`);
    return [{ key: m[1], value: m[2], line }];
  });
}

/** The compose-only group: after its heading, read by docker-compose.yml and not by Postern. */
function composeOnlyKeys(): string[] {
  const text = read('.env.example');
  const at = text.indexOf('# --- Docker Compose only');
  expect(at).toBeGreaterThan(0);
  return [...text.slice(at).matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
}

const SECRETS = {
  MYSQL_PASSWORD: 'pw',
  ADMIN_API_KEY: 'admin-key-0123456789',
  ENCRYPTION_KEY: 'ab'.repeat(32),
  MAIL_HOSTNAME: 'mail.example.net',
  API_HOST: 'api.example.net',
  ACME_EMAIL: 'ops@example.net',
};

/** ${VAR}, ${VAR:-default}, ${VAR:?error} as compose substitutes them from .env. */
function interpolate(value: unknown, env: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (op === '?') throw new Error(`${name} is required: ${arg}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

describe('.env.example', () => {
  it('lists every variable the config module reads, each under a comment, and nothing else but the compose-only group', () => {
    const entries = envExample();
    const keys = entries.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
    const config = configVariables();
    const extra = keys.filter((k) => !config.has(k));
    expect([...config].filter((k) => !keys.includes(k))).toEqual([]);
    expect(extra).toEqual(composeOnlyKeys());
    const compose = read('docker-compose.yml');
    for (const k of extra) expect([k, compose.includes(`\${${k}`)]).toEqual([k, true]);
    // Each variable sits under a comment (a pair such as SMTP_TLS_CERT/SMTP_TLS_KEY may share one).
    const lines = read('.env.example').split('\n');
    for (const { key, line } of entries) {
      let i = line - 1;
      while (i >= 0 && /^[A-Z]/.test(lines[i])) i -= 1;
      expect([key, lines[i]?.startsWith('# ') && line - i <= 2]).toEqual([key, true]);
    }
  });

  it('gives each variable its default: the file configures exactly what an empty environment does', () => {
    const fromFile = Object.fromEntries(envExample().map((e) => [e.key, e.value]));
    expect(loadConfig(fromFile)).toEqual(loadConfig({}));
  });

  it('can be sourced by a shell, giving the same values', () => {
    const r = spawnSync('bash', ['-c', 'set -a; . ./.env.example; set +a; node -e "process.stdout.write(JSON.stringify(process.env))"'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(r.status).toBe(0);
    const sourced = JSON.parse(r.stdout) as Record<string, string>;
    for (const { key, value } of envExample()) expect([key, sourced[key]]).toEqual([key, value]);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, any> };
  const fileEnv = { ...Object.fromEntries(envExample().map((e) => [e.key, e.value])), ...SECRETS };
  const image = '${POSTERN_IMAGE:-postern:local}';
  const postern = Object.entries(compose.services).filter(([, s]) => s.image === image);

  /** What the container's Postern sees: .env (env_file), then the service's environment, interpolated. */
  function serviceConfig(s: any): Config {
    expect(s.env_file).toEqual(['.env']);
    const env: Record<string, string> = { ...fileEnv };
    for (const [k, v] of Object.entries(s.environment ?? {})) env[k] = interpolate(v, fileEnv);
    return loadConfig(env, s.command[0]);
  }

  it('runs every Postern role from one image, built once (by migrate)', () => {
    expect(postern.map(([name]) => name).sort()).toEqual(['api', 'migrate', 'smtp', 'worker']);
    expect(postern.filter(([, s]) => s.build).map(([name]) => name)).toEqual(['migrate']);
    const others = Object.entries(compose.services).filter(([, s]) => s.image !== image);
    for (const [name, s] of others) expect([name, s.build]).toEqual([name, undefined]);
  });

  it('runs migrations once; every other role waits for them to succeed', () => {
    const [, migrate] = postern.find(([name]) => name === 'migrate')!;
    expect(migrate.command).toEqual(['migrate']);
    expect(migrate.restart).toBe('no');
    expect(migrate.depends_on.migrate).toBeUndefined();
    for (const [name, s] of postern.filter(([n]) => n !== 'migrate')) {
      expect([name, s.depends_on?.migrate]).toEqual([name, { condition: 'service_completed_successfully' }]);
    }
  });

  it('gives each role a healthcheck on the port that role serves its ops routes on', () => {
    for (const [name, s] of postern.filter(([n]) => n !== 'migrate')) {
      const config = serviceConfig(s);
      const served = config.role === 'api' || config.role === 'all' ? config.port : config.opsPort;
      const test = (s.healthcheck?.test ?? []).join(' ');
      const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(test);
      expect([name, Number(url?.[1]), url?.[2]]).toEqual([name, served, '/readyz']);
      // Prometheus reaches the same port (deploy/prometheus/prometheus.yml).
      expect(read('deploy/prometheus/prometheus.yml')).toMatch(new RegExp(`(${name}:${served}|names: \\["${name}"\\][\\s\\S]*?port: ${served})`));
    }
  });

  it("sets only variables that Postern reads in its roles' environments", () => {
    const known = configVariables();
    for (const [name, s] of postern) {
      for (const k of Object.keys(s.environment ?? {})) expect([name, k, known.has(k)]).toEqual([name, k, true]);
      serviceConfig(s); // and every value passes the config's checks
    }
  });

  it("mounts TLS material for the SMTP front and points Caddy's on-demand check at the api", () => {
    const smtp = compose.services.smtp;
    expect(smtp.volumes).toContain('${SMTP_TLS_DIR:-./tls}:/etc/postern/tls:ro');
    const caddy = compose.services.caddy;
    expect(caddy.volumes).toContain('./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro');
    const api = serviceConfig(compose.services.api);
    expect(read('deploy/caddy/Caddyfile')).toContain(`ask http://api:${api.port}/tls/ask`);
  });
});

describe('Caddyfile', () => {
  const caddyfile = read('deploy/caddy/Caddyfile');
  /** A top-level block's body by its first line (a site address or a snippet's name in parentheses). */
  const block = (head: string) => {
    const m = new RegExp(`^${head.replace(/[()/{}$]/g, '\\$&')} \\{\\n([\\s\\S]*?)^\\}$`, 'm').exec(caddyfile);
    if (!m) throw new Error(`no block ${head}`);
    return m[1];
  };

  it('serves tracking hosts only /t/, and the console, API and docs on the API host alone, with HSTS', () => {
    const tracking = block('(tracking)');
    expect(tracking.match(/reverse_proxy/g)).toHaveLength(1);
    expect(tracking).toMatch(/handle \/t\/\* \{\s*reverse_proxy api:8080\s*\}/);
    expect(tracking).toMatch(/handle \{\s*respond 404\s*\}/);
    for (const site of ['https://', 'http://']) {
      expect(block(site)).toContain('import tracking');
      expect(block(site)).not.toContain('import postern');
    }
    const api = block('{$API_HOST}');
    expect(api).toContain('import postern');
    // The api serves /metrics/ as /metrics (below): Caddy's exact path match must name the slashed form too.
    expect(block('(postern)')).toMatch(/@internal path \/metrics \/metrics\/\* \/tls\/ask \/tls\/ask\/\*\n\s*respond @internal 404/);
    expect(api).toMatch(/header Strict-Transport-Security "max-age=\d{7,}"/);
  });
});

describe('image healthcheck', () => {
  it('asks /readyz on PORT for all and api, on OPS_PORT for worker and smtp, and nothing for migrate', () => {
    expect(read('Dockerfile')).toMatch(/^HEALTHCHECK .*CMD \["node", "dist\/src\/ops\/healthcheck\.js"\]$/m);
    expect(healthUrl(['api'], { PORT: '8081' })).toBe('http://127.0.0.1:8081/readyz');
    expect(healthUrl([], {})).toBe('http://127.0.0.1:8080/readyz');
    expect(healthUrl(['worker'], { OPS_PORT: '9999' })).toBe('http://127.0.0.1:9999/readyz');
    expect(healthUrl([], { ROLE: 'smtp' })).toBe('http://127.0.0.1:9464/readyz');
    expect(healthUrl(['migrate'], {})).toBeNull();
  });

  it('keeps dependencies, data and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const p of ['node_modules', 'dist', 'data', '.env', 'encryption.key', '*.sqlite']) expect(ignored).toContain(p);
  });
});

describe('with an install', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it("serves every tracking route under /t/, the only path the Caddyfile's tracking hosts pass on", () => {
    const paths = trackingRoutes(h.services).stack.flatMap((l) => [(l.route as { path?: string | string[] } | undefined)?.path ?? []].flat());
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p).toMatch(/^\/t\//);
  });

  it('routes /metrics/ as /metrics, so the Caddyfile hides both forms', async () => {
    expect((await h.request('GET', '/metrics/')).status).toBe(200);
    expect((await h.request('GET', '/metrics/x')).status).toBe(404);
  });

  it('GET /tls/ask (Caddy on-demand TLS) allows only the tracking host of an Enabled sender domain', async () => {
    const u = await createUser(h);
    const enabled = uniqueDomain('tls');
    const pending = uniqueDomain('tls');
    const id = await addDomain(h, u.sessionId, enabled);
    await addDomain(h, u.sessionId, pending);
    await h.services.db('sender_domains').where({ id }).update({ status: 'Enabled' });
    const ask = async (host: string) => (await h.request('GET', '/tls/ask', { query: { domain: host } })).status;
    expect(await ask(`track-sl.${enabled}`)).toBe(200);
    expect(await ask(`TRACK-SL.${enabled}.`)).toBe(200);
    expect(await ask(`track-sl.${pending}`)).toBe(404);
    expect(await ask(`sl.${enabled}`)).toBe(404);
    expect(await ask(enabled)).toBe(404);
    expect(await ask('track-sl.attacker.example')).toBe(404);
    expect(await ask('127.0.0.1')).toBe(404);
    expect((await h.request('GET', '/tls/ask')).status).toBe(404);
  });

  it('has every metric the Grafana dashboard charts', async () => {
    const dashboard = read('deploy/grafana/postern-dashboard.json');
    const charted = new Set([...dashboard.matchAll(/\b((?:postern|nodejs)_\w+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]));
    const exported = await h.services.metrics.scrape();
    expect(charted.size).toBeGreaterThan(10);
    for (const name of charted) expect([name, exported.includes(`# TYPE ${name} `)]).toEqual([name, true]);
  });
});
