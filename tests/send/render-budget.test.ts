/**
 * A copy whose filled personalisation tags pass SMTP_MAX_MESSAGE_BYTES fails at delivery with that reason, instead of
 * growing in the worker every tenant shares (a 40 KB template of 64 KiB fields rendered 131 MB per recipient); a copy
 * within the budget is delivered. Here the budget is 4,096 characters, and each 26-character tag fills in a 75-character
 * address: the template passes the accept's size check, its copy does not.
 */
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
const OVER = `${'o'.repeat(60)}@recipient.test`;
const UNDER = `${'u'.repeat(60)}@recipient.test`;
beforeAll(async () => {
  rig = await startRelayRig({ SMTP_MAX_MESSAGE_BYTES: '4096' });
}, 60000);
afterAll(async () => {
  await rig.close();
});

async function sendWithTags(to: string, tags: number): Promise<{ status: string; last_reply: string | null }> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Budget',
      ContentType: 'plain',
      PlainContent: `Hi ${'%Subscriber:EmailAddress% '.repeat(tags)}`,
      From: { name: '', email: `a@${rig.s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  expect(res.status).toBe(200);
  const id = res.body.MessageID;
  if (!id) throw new Error(JSON.stringify(res.body));
  const db = rig.h.services.db;
  await waitFor(async () => !!(await db('deliveries').where({ message_id: id }).whereIn('status', ['delivered', 'failed']).first()), 20000, 'an outcome');
  return db('deliveries').where({ message_id: id }).first('status', 'last_reply');
}

it('fails a copy whose filled tags pass the budget, naming why, and delivers one within it', async () => {
  expect(await sendWithTags(OVER, 100)).toEqual({
    status: 'failed',
    last_reply: 'message cannot be composed: the personalised content is over 4096 characters once its tags are filled (SMTP_MAX_MESSAGE_BYTES)',
  });
  expect(rig.sink.received.some((m) => m.to.includes(OVER))).toBe(false);
  expect((await sendWithTags(UNDER, 20)).status).toBe('delivered');
});
