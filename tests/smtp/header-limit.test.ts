import { MAX_HEADER_OCTETS } from '../../src/smtp/message-rules';
import type { Harness } from '../helpers/harness';
import { FrontRig, startFrontRig } from '../helpers/smtp-front-rig';
import { authPlain, SmtpTalk } from '../helpers/smtp-talk';

/**
 * The header block's size limit and the per-field address cap (docs/smtp-front.md): the header checks run on the
 * SMTP process's one thread, so a huge header is refused before anything parses it, on the front and on
 * emailgateway.smtprelay. Nothing here measures time: each case checks the reply and that nothing was stored.
 */
let rig: FrontRig;
let h: Harness;
let s: FrontRig['s'];
let user: string;
let pass: string;

beforeAll(async () => {
  rig = await startFrontRig({ SMTP_MAX_MESSAGE_BYTES: String(2 * 1024 * 1024), SENDER_AUTH_CACHE_MS: '0' });
  ({ h, s, user, pass } = rig);
});
afterAll(() => rig.close());

const stored = async () => Number((await h.services.db('messages').where({ domain_id: s.domainId }).count({ n: '*' }))[0].n);

/** `X-Pad:` fields of 900 octets until the header block is at least `octets` long: few fields, one address. */
function paddedHeader(octets: number): string {
  const lines = [`From: app@${s.domain}`, 'To: r@dest.test', 'Subject: padded'];
  const pad = `X-Pad: ${'p'.repeat(892)}`;
  while (lines.join('\r\n').length < octets) lines.push(pad);
  return lines.join('\r\n');
}

/** A To folded over `n` lines, one quoted address each (the review's reproduction, scaled down). */
function foldedTo(n: number): string {
  const to = Array.from({ length: n }, (_, i) => ` "x" <a${i}@ex.test>`).join(',\r\n');
  return `From: app@${s.domain}\r\nTo:${to}\r\nSubject: many`;
}

/** One SMTP session up to the end of DATA with `header`; the reply to the message. */
async function send(header: string): Promise<string> {
  const { talk } = await SmtpTalk.open(rig.front.ports[0]);
  try {
    expect((await talk.send('EHLO client.test')).code).toBe(250);
    expect((await talk.send(`AUTH PLAIN ${authPlain(user, pass)}`)).code).toBe(235);
    expect((await talk.send(`MAIL FROM:<app@${s.domain}>`)).code).toBe(250);
    expect((await talk.send('RCPT TO:<r@dest.test>')).code).toBe(250);
    expect((await talk.send('DATA')).code).toBe(354);
    return (await talk.send(`${header}\r\n\r\nbody\r\n.`)).text;
  } finally {
    talk.close();
  }
}

describe('header size on the SMTP front', () => {
  it('refuses a header block over the limit with 552 5.3.4 and stores nothing', async () => {
    const before = await stored();
    const header = paddedHeader(MAX_HEADER_OCTETS + 1);
    expect(header.split('\r\n').length).toBeLessThan(1000); // under the field cap: the size alone refuses it
    expect(await send(header)).toBe(`552 5.3.4 Message header too large (at most ${MAX_HEADER_OCTETS} octets)`);
    expect(await stored()).toBe(before);
  });

  it('refuses one To folded over more than the limit with 552 5.3.4 and stores nothing', async () => {
    const before = await stored();
    const header = foldedTo(16_000);
    expect(header.length).toBeGreaterThan(MAX_HEADER_OCTETS);
    expect(await send(header)).toBe(`552 5.3.4 Message header too large (at most ${MAX_HEADER_OCTETS} octets)`);
    expect(await stored()).toBe(before);
  });

  it('accepts a header block just under the limit', async () => {
    const header = paddedHeader(MAX_HEADER_OCTETS - 1000);
    expect(header.length).toBeLessThanOrEqual(MAX_HEADER_OCTETS);
    expect(await send(header)).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
  });

  it('refuses a To listing more than 1,000 addresses with 554 5.6.0, and takes 1,000', async () => {
    const before = await stored();
    expect(await send(foldedTo(1001))).toBe('554 5.6.0 Message refused: To header lists more than 1000 addresses');
    expect(await stored()).toBe(before);
    expect(await send(foldedTo(1000))).toMatch(/^250 2\.0\.0 Ok: queued as/);
  });
});

describe('header size on emailgateway.smtprelay', () => {
  it('answers code 14 with SMTPResponse 552 5.3.4 before parsing, and stores nothing', async () => {
    const before = await stored();
    const r = await h.call({
      Command: 'emailgateway.smtprelay',
      AdminAPIKey: h.adminKey,
      SMTPUsername: user,
      SMTPPassword: pass,
      MailFrom: `app@${s.domain}`,
      RcptTo: 'r@dest.test',
      RawEmail: `${foldedTo(16_000)}\r\n\r\nbody\r\n`,
    });
    expect(r).toMatchObject({
      Success: false,
      ErrorCode: 14,
      SMTPResponse: `552 5.3.4 Message header too large (at most ${MAX_HEADER_OCTETS} octets)`,
    });
    expect(r.ErrorText).toMatch(/message header is \d+ octets; at most 262144 are allowed/);
    expect(await stored()).toBe(before);
  });
});
