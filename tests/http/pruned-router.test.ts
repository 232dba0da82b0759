/** Routers are entered only by paths they can match (src/http/pruned-router.ts): routing answers as before. */
import express from 'express';
import { staticPrefixes } from '../../src/http/pruned-router';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('staticPrefixes', () => {
  it('reads the static beginning of each route and mount, lowercased and without a trailing slash', () => {
    const r = express.Router();
    r.get('/T/o/:file', (_q, s) => s.end());
    r.get(['/docs', '/docs/'], (_q, s) => s.end());
    r.use('/console/assets', (_q, _s, n) => n());
    r.post('/api/v1/email/{:id}', (_q, s) => s.end());
    expect(staticPrefixes(r)?.sort()).toEqual(['/api/v1/email', '/console/assets', '/docs', '/t/o']);
  });

  it('gives up (the router is always entered) when a layer can match any path', () => {
    const bare = express.Router();
    bare.get('/a', (_q, s) => s.end());
    bare.use((_q, _s, n) => n());
    expect(staticPrefixes(bare)).toBeNull();
    const regexp = express.Router();
    regexp.get(/^\/x/, (_q, s) => s.end());
    expect(staticPrefixes(regexp)).toBeNull();
    const param = express.Router();
    param.get('/:anything', (_q, s) => s.end());
    expect(staticPrefixes(param)).toBeNull();
  });
});

describe('routing through pruned routers', () => {
  it('sends through POST /api/v1/email in any letter case, as express matches paths', async () => {
    const s = await senderSetup(h);
    const body = { Subject: 'Hi', ContentType: 'plain', PlainContent: 'Hello', From: { email: `a@${s.domain}` }, To: [{ email: 'r@example.org' }] };
    for (const path of ['/api/v1/email', '/API/V1/Email', '/api/v1/email/']) {
      const res = await h.request('POST', path, { headers: { Authorization: `Bearer ${s.key}` }, body });
      expect(res.status).toBe(200);
      expect(res.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(await h.services.db('messages').where({ domain_id: s.domainId }).count({ n: '*' })).toEqual([{ n: 3 }]);
  });

  it('still reaches the health, tracking, legacy and dialect routes, and answers 404 elsewhere', async () => {
    expect((await h.request('GET', '/HEALTHZ')).status).toBe(200);
    // An unknown open-pixel token: the tracking router answers (the pixel), not the 404 writer.
    const pixel = await h.request('GET', '/t/o/unknown.gif');
    expect(pixel.headers['content-type']).toMatch(/^image\/gif/);
    expect((await h.request('POST', '/api.php', { body: { Command: 'user.login' } })).body).toMatchObject({ Success: false });
    const cloud = await h.request('POST', '/v1/send', { headers: { Authorization: 'Bearer nope' }, body: {} });
    // CloudMails' own envelope: its router answered (the key first).
    expect(cloud.status).toBe(401);
    expect(cloud.body).toMatchObject({ code: 401, error: expect.any(String) });
    const missing = await h.request('POST', '/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.Errors[0].Message).toBe('No route for POST /api/v1/nothing-here');
  });
});
