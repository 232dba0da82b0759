/** A path that is not valid percent-encoding is the client's mistake: 400 in each door's own envelope, never a 500. */
import { Harness, startHarness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('undecodable path parameters', () => {
  it.each(['/api/v1/email/%E0%A4%zz', '/api/v1/webhooks/%E0%A4%zz/log', '/api/v1/captured/%E0%A4%zz'])('%s answers 400 with Errors[]', async (path) => {
    const res = await h.request('GET', path, { headers: { Authorization: 'Bearer eg_live_x' } });
    expect(res.status).toBe(400);
    expect(res.body.Errors[0]).toMatchObject({ Code: 400 });
    expect(res.body.Errors[0].Message).toContain('percent-encoding');
  });

  it('answers 400 invalid_request in the CyberPanel dialect', async () => {
    const res = await h.request('GET', '/email/v1/messages/%E0%A4%zz', { headers: { Authorization: 'Bearer sk_live_x' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, error: { code: 'invalid_request' } });
  });
});
