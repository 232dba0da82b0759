/**
 * A relay connection that has not authenticated SMTP_AUTH_TIMEOUT_SECONDS after it opened is closed with a 421,
 * however busy it keeps itself (NOOP, RSET): with AUTH optional (for trusted clients), smtp-server's own limit on
 * unauthenticated commands is off, and its idle timeout counts only silence. An authenticated one stays.
 */
import { FrontRig, startFrontRig } from '../helpers/smtp-front-rig';
import { RawSmtp, rawSmtp, say } from '../helpers/smtp-raw';
import { authPlain } from '../helpers/smtp-talk';

const DEADLINE_MS = 600;
let rig: FrontRig;

beforeAll(async () => {
  rig = await startFrontRig({ SMTP_AUTH_TIMEOUT_MS: String(DEADLINE_MS) });
});
afterAll(async () => {
  await rig.close();
});

/** NOOPs every 100 ms for `ms`: the answers, in order (a closed connection stops them). */
async function keepBusy(c: RawSmtp, ms: number): Promise<string[]> {
  const answers: string[] = [];
  for (const end = Date.now() + ms; Date.now() < end;) {
    const r = await Promise.race([say(c, 'NOOP'), new Promise<string>((resolve) => setTimeout(() => resolve('(no answer)'), 1000))]);
    answers.push(r.trim());
    if (!r.startsWith('250')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return answers;
}

it('closes an unauthenticated connection however busy it keeps itself, and keeps an authenticated one', async () => {
  const idle = await rawSmtp(rig.front.ports[0]);
  const authed = await rawSmtp(rig.front.ports[0]);
  try {
    expect(await say(idle, 'EHLO client.test')).toMatch(/^250/);
    expect(await say(authed, 'EHLO client.test')).toMatch(/^250/);
    expect(await say(authed, `AUTH PLAIN ${authPlain(rig.user, rig.pass)}`)).toMatch(/^235 /);
    const [busy, signedIn] = await Promise.all([keepBusy(idle, DEADLINE_MS * 3), keepBusy(authed, DEADLINE_MS * 2)]);
    expect(busy.at(-1)).toMatch(/^421 4\.7\.0 Not authenticated 1 s after connecting; closing connection/);
    expect(busy.slice(0, -1).every((r) => r.startsWith('250'))).toBe(true);
    expect(signedIn.every((r) => r.startsWith('250'))).toBe(true);
  } finally {
    idle.close();
    authed.close();
  }
});
