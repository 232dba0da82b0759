/**
 * A remote server's reply is kept and logged at most 1,000 characters long, success or failure: the server (a
 * recipient's MX, the relay) chooses it, and nodemailer takes replies of up to 1 MiB.
 */
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(async () => {
  await rig.close();
});

it('keeps the first 1,000 characters of a 60,000-character 250 reply', async () => {
  const { h, s } = rig;
  rig.sink.dataReply = () => `queued ${'a'.repeat(60_000)}`;
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'long reply', ContentType: 'plain', PlainContent: 'x', From: { email: `a@${s.domain}` }, To: [{ email: 'r@dest.test' }] },
    });
    expect(res.status).toBe(200);
    const row = () => h.services.db('deliveries').where({ message_id: res.body.MessageID }).first();
    await waitFor(async () => (await row())?.status === 'delivered', 15_000, 'delivered');
    // A first attempt's 250 reply is kept in its `delivered` event (the row keeps none: its settle is in place).
    await waitFor(async () => !!(await h.services.db('events').where({ message_id: res.body.MessageID, type: 'delivered' }).first('id')), 5000, 'the event');
    const event = await h.services.db('events').where({ message_id: res.body.MessageID, type: 'delivered' }).first('data');
    const reply = String(JSON.parse(event.data).smtp_reply);
    expect(reply.startsWith('250 queued aaa')).toBe(true);
    expect(reply.length).toBe(1000);
  } finally {
    rig.sink.dataReply = undefined;
  }
});
