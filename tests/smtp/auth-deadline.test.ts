/**
 * A relay connection that has not authenticated SMTP_AUTH_TIMEOUT_SECONDS after it opened is closed with a 421,
 * however busy it keeps itself (NOOP, RSET): with AUTH optional (for trusted clients), smtp-server's own limit on
 * unauthenticated commands is off, and its idle timeout counts only silence. An authenticated one stays.
 */
import { FrontRig, startFrontRig } from '../helpers/smtp-front-rig';
import { RawSmtp, rawSmtp, say } from '../helpers/smtp-raw';
import { authPlain } from '../helpers/smtp-talk';

const DEADLINE_MS = 1000;
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
    // Five seconds is a hung session, not a slow machine.
    const r = await Promise.race([say(c, 'NOOP'), new Promise<string>((resolve) => setTimeout(() => resolve('(no answer)'), 5000))]);
    answers.push(r.trim());
    if (!r.startsWith('250')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return answers;
}

/**
 * A connection that authenticated before its deadline. EHLO and AUTH must be answered within DEADLINE_MS of
 * connecting, which a loaded machine once missed (the AUTH answered the deadline's 421): a try whose deadline had
 * passed by the client's own clock is made again. A 421 sooner than that, or any other answer, fails the test.
 */
async function signedIn(): Promise<RawSmtp> {
  for (let tries = 1; ; tries++) {
    const opened = Date.now();
    const c = await rawSmtp(rig.front.ports[0]);
    const ehlo = await say(c, 'EHLO client.test');
    const auth = ehlo.startsWith('250') ? await say(c, `AUTH PLAIN ${authPlain(rig.user, rig.pass)}`) : ehlo;
    if (auth.startsWith('235 ')) return c;
    c.close();
    const late = /^421 4\.7\.0 Not authenticated/.test(auth) && Date.now() - opened >= DEADLINE_MS;
    if (!late || tries === 3) throw new Error(`EHLO then AUTH answered ${auth} after ${Date.now() - opened} ms (try ${tries})`);
  }
}

it('closes an unauthenticated connection however busy it keeps itself, and keeps an authenticated one', async () => {
  // Signed in first: the unauthenticated connection's EHLO is not in the time the other has to authenticate.
  const authed = await signedIn();
  const idle = await rawSmtp(rig.front.ports[0]);
  try {
    expect(await say(idle, 'EHLO client.test')).toMatch(/^250/);
    const [busy, stayed] = await Promise.all([keepBusy(idle, DEADLINE_MS * 3), keepBusy(authed, DEADLINE_MS * 2)]);
    expect(busy.at(-1)).toMatch(/^421 4\.7\.0 Not authenticated 1 s after connecting; closing connection/);
    expect(busy.slice(0, -1).every((r) => r.startsWith('250'))).toBe(true);
    expect(stayed.every((r) => r.startsWith('250'))).toBe(true);
  } finally {
    idle.close();
    authed.close();
  }
});
