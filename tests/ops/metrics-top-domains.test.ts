/**
 * METRICS_TOP_DOMAINS bounds the domain label of /metrics: a destination gets its own label once seen five times,
 * and only this many do; every other reply counts under "other", so a sender to many domains cannot grow the scrape
 * without bound.
 */
import supertest from 'supertest';
import { metric } from '../helpers/prom';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ METRICS_TOP_DOMAINS: '1' });
});
afterAll(() => rig.close());

async function sendTo(domain: string, n: number): Promise<void> {
  const res = await supertest(rig.h.app)
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${rig.s.key}`)
    .send({
      Subject: 'Hi',
      ContentType: 'plain',
      PlainContent: 'hello',
      From: { email: `app@${rig.s.domain}` },
      To: Array.from({ length: n }, (_, i) => ({ email: `r${i}@${domain}` })),
    });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.filter((m) => m.to[0].endsWith(`@${domain}`)).length === n, 15_000, `mail to ${domain}`);
}

it('labels the first domain seen five times, and counts the rest (and its first four) as other', async () => {
  await sendTo('busy.test', 6);
  await sendTo('late.test', 6); // seen as often, but the one label is taken
  await sendTo('rare.test', 2);
  const text = (await supertest(rig.h.app).get('/metrics').expect(200)).text;
  const replies = (domain: string) => metric(text, 'postern_remote_smtp_replies_total', { domain });
  expect(replies('busy.test')).toBe(2);
  expect(replies('late.test')).toBe(0);
  expect(replies('rare.test')).toBe(0);
  expect(replies('other')).toBe(4 + 6 + 2);
});
