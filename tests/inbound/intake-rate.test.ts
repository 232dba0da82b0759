/**
 * INBOUND_MAX_MESSAGES_PER_MINUTE: the bounce intake is open to anyone and stores and parses every message it takes, so
 * one client gets that many a minute; the next is answered 451 4.7.1 (a real MTA retries later) and nothing of it is
 * stored. Counted in Redis, or in the process on the embedded store.
 */
import nodemailer from 'nodemailer';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let inbound: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', INBOUND_MAX_MESSAGES_PER_MINUTE: '3' });
  inbound = await startInboundSmtp(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

const stored = async () => Number((await h.services.db('inbound_messages').count({ n: '*' }))[0].n);

it('takes INBOUND_MAX_MESSAGES_PER_MINUTE messages from one client, then answers 451 and stores nothing more', async () => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any);
  const send = (i: number) =>
    transport.sendMail({ envelope: { from: 'a@b.test', to: [`someone@sl.${s.domain}`] }, raw: `From: a@b.test\r\nSubject: note ${i}\r\n\r\nhello\r\n` });
  for (let i = 0; i < 3; i++) expect((await send(i)).response).toMatch(/^250 2\.0\.0 Ok: stored as \d+/);
  await expect(send(3)).rejects.toMatchObject({
    responseCode: 451,
    response: expect.stringMatching(/^451 4\.7\.1 Too many messages from your address; try again in \d+ seconds$/),
  });
  expect(await stored()).toBe(3);
});
