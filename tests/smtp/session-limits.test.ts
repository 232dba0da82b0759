/**
 * The relay front's session limits: an account holds at most SMTP_MAX_CONNECTIONS_PER_ACCOUNT authenticated
 * connections (one sender on many addresses could hold every slot of the listener), and a connection open
 * SMTP_SESSION_MAX_SECONDS is closed (here SMTP_SESSION_MAX_MS) however busy with NOOPs, but never mid-message.
 */
import { FrontRig, startFrontRig } from '../helpers/smtp-front-rig';
import { RawSmtp, rawSmtp, say } from '../helpers/smtp-raw';
import { waitFor } from '../helpers/sink';

let rig: FrontRig;
beforeAll(async () => {
  rig = await startFrontRig({ SMTP_MAX_CONNECTIONS_PER_ACCOUNT: '3', SMTP_SESSION_MAX_MS: '2000' });
});
afterAll(async () => {
  await rig.close();
});

const plain = () => Buffer.from(`\0${rig.user}\0${rig.pass}`).toString('base64');

async function authed(): Promise<{ c: RawSmtp; auth: string }> {
  const c = await rawSmtp(rig.front.ports[0]);
  await say(c, 'EHLO client.test');
  return { c, auth: await say(c, `AUTH PLAIN ${plain()}`) };
}

const closed = (c: RawSmtp) => waitFor(() => c.socket.destroyed || c.socket.readableEnded, 5000, 'the front to close the connection');

test("an account's fourth connection is refused at AUTH with 421, and one is free again once another closes", async () => {
  const held = await Promise.all([authed(), authed(), authed()]);
  try {
    expect(held.map((x) => x.auth.slice(0, 3))).toEqual(['235', '235', '235']);
    const fourth = await authed();
    expect(fourth.auth).toBe('421 4.7.0 This account already has 3 connections open; try again later');
    await closed(fourth.c);
    // A failed AUTH takes no slot, and a connection that closes gives its slot back.
    held[0].c.close();
    await waitFor(async () => (await authed().then((x) => (x.c.close(), x.auth))).startsWith('235'), 5000, 'a slot given back');
  } finally {
    for (const x of held) x.c.close();
  }
});

// The two lifetime tests run side by side (each waits out the 2 s lifetime, 2 and 3 s one after the other): each has
// its own connection, two of the account's three, and the cap test above has ended before they start.
test.concurrent('a connection that keeps sending NOOP is closed at its lifetime with 421 4.4.2', async () => {
  const { c, auth } = await authed();
  try {
    expect(auth.slice(0, 3)).toBe('235');
    const opened = Date.now();
    let last = '';
    while (Date.now() - opened < 8000) {
      last = await say(c, 'NOOP');
      if (!last.startsWith('250')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(last).toBe('421 4.4.2 Session open 2 s, the most this server allows; reconnect to send more');
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1900);
    await closed(c);
  } finally {
    c.close();
  }
});

test.concurrent('a message on its way at the lifetime is accepted, then the connection closes', async () => {
  const { c, auth } = await authed();
  try {
    expect(auth.slice(0, 3)).toBe('235');
    expect(await say(c, `MAIL FROM:<app@${rig.s.domain}>`)).toMatch(/^250/);
    expect(await say(c, 'RCPT TO:<slow@dest.test>')).toMatch(/^250/);
    expect(await say(c, 'DATA')).toMatch(/^354/);
    c.send(`From: app@${rig.s.domain}\r\nTo: slow@dest.test\r\nSubject: slow\r\n\r\n`);
    // Past the 2 s lifetime while the body is still coming.
    for (let i = 0; i < 6; i++) {
      c.send(`line ${i} of a slow body\r\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
    c.send('.\r\n');
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await c.reply()).toBe('421 4.4.2 Session open 2 s, the most this server allows; reconnect to send more');
    await closed(c);
  } finally {
    c.close();
  }
});
