/**
 * METRICS_TOP_DOMAINS bounds the domain label of /metrics: a destination gets its own label once seen five times,
 * and only this many do; every other reply counts under "other", so a sender to many domains cannot grow the scrape
 * without bound.
 */
import { metric } from '../helpers/prom';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ METRICS_TOP_DOMAINS: '1' });
});
afterAll(() => rig.close());

async function sendTo(domain: string, n: number): Promise<void> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Hi',
      ContentType: 'plain',
      PlainContent: 'hello',
      From: { email: `app@${rig.s.domain}` },
      To: Array.from({ length: n }, (_, i) => ({ email: `r${i}@${domain}` })),
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.filter((m) => m.to[0].endsWith(`@${domain}`)).length === n, 15_000, `mail to ${domain}`);
  // The sink has the mail before its 250 reaches the worker, which counts the reply, then records the outcome.
  const delivered = () => rig.h.services.db('deliveries').where({ message_id: res.body.MessageID, status: 'delivered' }).count({ n: '*' });
  await waitFor(async () => Number((await delivered())[0].n) === n, 15_000, `the replies from ${domain} counted`);
}

it('labels the first domain seen five times, and counts the rest (and its first four) as other', async () => {
  await sendTo('busy.test', 6);
  await sendTo('late.test', 6); // seen as often, but the one label is taken
  await sendTo('rare.test', 2);
  const res = await rig.h.request('GET', '/metrics');
  expect(res.status).toBe(200);
  const text = res.text;
  const replies = (domain: string) => metric(text, 'postern_remote_smtp_replies_total', { domain });
  expect(replies('busy.test')).toBe(2);
  expect(replies('late.test')).toBe(0);
  expect(replies('rare.test')).toBe(0);
  expect(replies('other')).toBe(4 + 6 + 2);
});
