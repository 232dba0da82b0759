/**
 * Runs the "Try it locally" commands exactly as the documentation writes them, in one bash shell, against the
 * built gateway started as `npm start` starts it, and compares what each block prints with the output block
 * shown under it (`…` matches any text within a line). The documentation and the product cannot drift apart.
 *
 * The only changes made to the commands, so that the run fits a shared test machine:
 *   - `npm start` becomes `node dist/src/main.js dev` (`npm test` has built it already; `npm start` only adds the build);
 *   - `localhost:8080` becomes `localhost:<a free port>` (in the commands and in the expected output), and the
 *     environment binds every listener to 127.0.0.1 with free SMTP ports.
 * Requires `npm run build` first (npm test does it), curl and jq.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { freePort } from '../helpers/ports';

/** The README's own section, so the commands a newcomer reads are the ones this test runs. */
const SOURCE = path.resolve(__dirname, '../../README.md');
const SECTION = '## Try it locally';
const ROOT = path.resolve(__dirname, '../..');

interface Step {
  commands: string;
  /** What the block prints; an sh block with no output block after it must print nothing. */
  output: string;
}

/** The section's ```sh blocks in order, each with the ```text block right after it (if any). */
function stepsOf(markdown: string): Step[] {
  const start = markdown.indexOf(`${SECTION}\n`);
  if (start < 0) throw new Error(`${SOURCE} has no "${SECTION}" section`);
  const next = markdown.indexOf('\n## ', start + SECTION.length);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  const blocks = [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], body: m[2], start: m.index!, end: m.index! + m[0].length }));
  const steps: Step[] = [];
  blocks.forEach((b, i) => {
    if (b.lang !== 'sh') return;
    const after = blocks[i + 1];
    const follows = after && after.lang === 'text' && section.slice(b.end, after.start).trim() === '';
    steps.push({ commands: b.body, output: follows ? after.body : '' });
  });
  return steps;
}

function asPattern(expected: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${expected.split('…').map(escape).join('[^\\n]*')}$`);
}

describe('docs: Try it locally', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-try-'));
  let group: number | undefined;
  afterAll(() => {
    // The shell and the Postern it started share one process group, started here: end what is left of it.
    if (group) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs as written and ends with a DKIM-verified captured message read through the API', async () => {
    expect(fs.existsSync(path.join(ROOT, 'dist/src/main.js'))).toBe(true);
    const port = await freePort();
    const local = (s: string) => s.replace(/localhost:8080/g, `localhost:${port}`);
    const steps = stepsOf(fs.readFileSync(SOURCE, 'utf8')).map((s) => ({
      commands: local(s.commands).replace(/\bnpm start\b/g, 'node dist/src/main.js dev'),
      output: local(s.output),
    }));
    expect(steps.length).toBeGreaterThan(5);

    // A folder of its own that looks like the clone: the built code and node_modules (for npx mailauth).
    for (const name of ['dist', 'node_modules', 'package.json']) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
    const script = [
      'exec 2>&1',
      'set -eo pipefail',
      "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
      ...steps.map((s, i) => `printf '\\n@@STEP ${i}@@\\n'\n${s.commands}`),
      "printf '\\n@@END@@\\n'",
      'wait', // the last step stopped Postern: let it finish shutting down
    ].join('\n');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '0',
      INBOUND_SMTP_PORT: '0',
      OPS_PORT: '0',
      npm_config_offline: 'true',
    };
    for (const k of [
      'DATABASE_URL',
      'REDIS_URL',
      'ADMIN_API_KEY',
      'ENCRYPTION_KEY',
      'ROLE',
      'POSTERN_TEST_DB',
      'NODE_ENV',
      'DATA_DIR',
      'LOG_LEVEL',
      'DELIVERY_MODE',
    ])
      delete env[k];

    const child = spawn('bash', ['-c', script], { cwd: dir, env, detached: true });
    group = child.pid;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the commands failed (exit ${code}):\n${out}`);

    const printed = out.split(/\n@@STEP \d+@@\n/).slice(1);
    printed[printed.length - 1] = printed[printed.length - 1].split('\n@@END@@\n')[0];
    expect(printed).toHaveLength(steps.length);
    steps.forEach((s, i) => {
      const got = printed[i].replace(/\s+$/, '');
      const want = s.output.replace(/\s+$/, '');
      expect({ step: i + 1, commands: s.commands, output: got }).toEqual({ step: i + 1, commands: s.commands, output: expect.stringMatching(asPattern(want)) });
    });

    // Independently of the commands' own check: the message they fetched verifies against the published key.
    const dns = JSON.parse(fs.readFileSync(path.join(dir, 'dns.json'), 'utf8')) as Record<string, { TXT: string[][] }>;
    const verdict = await dkimVerify(fs.readFileSync(path.join(dir, 'first.eml')), {
      resolver: async (name: string, type: string) => {
        if (type === 'TXT' && dns[name]) return dns[name].TXT;
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    expect(verdict.results[0].status.result).toBe('pass');
    expect(fs.readFileSync(path.join(dir, 'postern.log'), 'utf8').trim().split('\n').pop()).toContain('"message":"stopped"');
  }, 120_000);
});
