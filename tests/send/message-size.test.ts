/**
 * A message must fit one database row: MySQL refuses a statement over its max_allowed_packet (16 MiB on MariaDB as
 * installed), which failed the group commit of every sender in that group. With the size settings above the
 * packet, an API send that would not fit answers 42 and the SMTP front advertises and enforces the smaller size;
 * the embedded store has no such limit and takes the same send.
 */
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { backend, Harness, senderSetup, startHarness } from '../helpers/harness';
import { rawSmtp } from '../helpers/smtp-raw';

const MIB = 1 << 20;
let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let front: SmtpFront;

beforeAll(async () => {
  h = await startHarness({ MAX_ATTACHMENT_BYTES: String(64 * MIB), SMTP_MAX_MESSAGE_BYTES: String(96 * MIB), SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  s = await senderSetup(h);
  front = await startSmtpFront(h.services);
});
afterAll(async () => {
  await front.close();
  await h.close();
});

it('answers 42 for a send its database cannot hold in one row, on MySQL, instead of failing the commit', async () => {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Big',
      ContentType: 'plain',
      PlainContent: 'See the attachment.',
      From: { name: '', email: `news@${s.domain}` },
      To: [{ name: '', email: 'big@recipient.test' }],
      Attachments: [{ filename: 'big.bin', content: Buffer.alloc(17 * MIB, 1).toString('base64') }],
    },
  });
  expect(res.status).toBe(200);
  if (backend() === 'sqlite') {
    expect(res.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    return;
  }
  const [rows] = await h.services.db.raw('SELECT @@max_allowed_packet AS packet');
  const limit = Number(rows[0].packet) - MIB;
  expect(res.body.Errors).toEqual([
    {
      Code: 42,
      Message: expect.stringMatching(
        new RegExp(`^The message holds about \\d+ bytes; this install's database takes at most ${limit} in one message \\(max_allowed_packet\\)$`),
      ),
    },
  ]);
}, 60_000);

it('advertises and enforces at the SMTP front no more than a row can hold', async () => {
  const c = await rawSmtp(front.ports[0]);
  c.send('EHLO client.test\r\n');
  const size = Number(/^250[- ]SIZE (\d+)$/m.exec(await c.reply())![1]);
  if (backend() === 'sqlite') {
    expect(size).toBe(96 * MIB);
  } else {
    const [rows] = await h.services.db.raw('SELECT @@max_allowed_packet AS packet');
    expect(size).toBe(Number(rows[0].packet) - MIB);
  }
  c.close();
});
