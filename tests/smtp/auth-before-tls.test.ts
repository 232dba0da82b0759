/**
 * The relay front never lets a password cross the network in clear: over a plain connection from an address that is
 * not loopback, EHLO offers no AUTH and AUTH gets no 334 prompt (smtp-server's AUTH LOGIN used to ask for the username
 * and password before the hook answered 538); after STARTTLS both are back. Loopback, and everyone under
 * SMTP_ALLOW_INSECURE_AUTH, may still authenticate in clear. Every server stays on loopback: the front under test is
 * told that no client is local (its `isLocal`), so a loopback client is a network client to it.
 */
import tls from 'node:tls';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { FrontRig, startFrontRig } from '../helpers/smtp-front-rig';
import { rawSmtp, say, smtpOver } from '../helpers/smtp-raw';
import { authPlain } from '../helpers/smtp-talk';

let rig: FrontRig;

beforeAll(async () => {
  rig = await startFrontRig({}, { isLocal: () => false });
});
afterAll(async () => {
  await rig.close();
});

const plainAuth = () => `AUTH PLAIN ${authPlain(rig.user, rig.pass)}`;

it('offers no AUTH in clear to a network client and never prompts for a password, then takes AUTH after STARTTLS', async () => {
  const plain = await rawSmtp(rig.front.ports[0]);
  try {
    const ehlo = await say(plain, 'EHLO client.test');
    expect(ehlo).toMatch(/^250-/);
    expect(ehlo).toMatch(/STARTTLS/);
    expect(ehlo).not.toMatch(/AUTH/);
    for (const line of ['AUTH LOGIN', 'AUTH PLAIN', plainAuth()]) expect(await say(plain, line)).toMatch(/^5\d\d /);
    expect(await say(plain, 'STARTTLS')).toMatch(/^220 /);
    plain.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: plain.socket, rejectUnauthorized: false });
    await new Promise((resolve) => secure.once('secureConnect', resolve));
    const overTls = smtpOver(secure);
    expect(await say(overTls, 'EHLO client.test')).toMatch(/AUTH PLAIN LOGIN/);
    expect(await say(overTls, plainAuth())).toMatch(/^235 /);
    secure.destroy();
  } finally {
    plain.close();
  }
});

/** A plain connection to `front` is offered AUTH and signs in with it; the front is closed after. */
async function signsInInClear(front: SmtpFront): Promise<void> {
  const c = await rawSmtp(front.ports[0]);
  try {
    expect(await say(c, 'EHLO client.test')).toMatch(/AUTH PLAIN LOGIN/);
    expect(await say(c, plainAuth())).toMatch(/^235 /);
  } finally {
    c.close();
    await front.close();
  }
}

it('offers AUTH in clear to a network client under SMTP_ALLOW_INSECURE_AUTH', async () => {
  await signsInInClear(
    await startSmtpFront({ ...rig.h.services, config: { ...rig.h.services.config, smtpAllowInsecureAuth: true } }, { isLocal: () => false }),
  );
});

it('offers AUTH in clear to loopback', async () => {
  await signsInInClear(await startSmtpFront(rig.h.services));
});
