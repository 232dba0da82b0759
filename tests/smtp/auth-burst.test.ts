/**
 * SMTP_MAX_AUTH_FAILURES holds for AUTHs sent together: a failure is counted after its check, so parallel attempts
 * once all passed a look at the count made before any had failed (a connection cap's worth of guesses per round).
 * Now a client's attempts run at most as many at once as the failures it has left; the rest wait, so a pool that
 * opens more connections at once than the cap still gets every one in.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { rawSmtp, say } from '../helpers/smtp-raw';

let h: Harness;
let front: SmtpFront;
let good: { user: string; pass: string };

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', SMTP_MAX_CONNECTIONS_PER_IP: '40', SMTP_MAX_AUTH_FAILURES: '3' });
  front = await startSmtpFront(h.services);
  const s = await senderSetup(h);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  good = { user: c.SMTP.SMTPUsername, pass: c.SMTP.SMTPPassword };
});
afterAll(async () => {
  await front.close();
  await h.close();
});

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

/** Opens a connection, says EHLO, and resolves with a function that sends one AUTH PLAIN and gives its reply code. */
async function ready(): Promise<{ auth: (user: string, pass: string) => Promise<string>; close: () => void }> {
  const c = await rawSmtp(front.ports[0]);
  await say(c, 'EHLO client.test');
  return { auth: async (user, pass) => (await say(c, `AUTH PLAIN ${plain(user, pass)}`)).slice(0, 3), close: () => c.close() };
}

/** `n` connections made ready first, then one AUTH on each at the same moment; their reply codes, counted. */
async function together(n: number, pass: (i: number) => string, user = () => good.user): Promise<Record<string, number>> {
  const conns = await Promise.all(Array.from({ length: n }, () => ready()));
  const codes = await Promise.all(conns.map((c, i) => c.auth(user(), pass(i))));
  for (const c of conns) c.close();
  const counted: Record<string, number> = {};
  for (const code of codes) counted[code] = (counted[code] ?? 0) + 1;
  return counted;
}

test('a burst of correct AUTHs larger than the cap all succeed, also when one failure is left', async () => {
  expect(await together(16, () => good.pass)).toEqual({ 235: 16 });
  expect(await together(2, (i) => `wrong-${i}`)).toEqual({ 535: 2 });
  expect(await together(12, () => good.pass)).toEqual({ 235: 12 });
});

test('wrong AUTHs sent together are checked only as many times as failures are left; the rest answer 454', async () => {
  // One failure is left from the test before: of 20 guesses at once, one is checked.
  expect(await together(20, (i) => `guess-${i}`)).toEqual({ 535: 1, 454: 19 });
  // Spent: the right password is refused too, until the window ends.
  expect(await together(1, () => good.pass)).toEqual({ 454: 1 });
});
