/**
 * Headers every reply carries, and the files /docs serves: nothing on the console's origin may be read as script or
 * HTML other than what it says it is, and none of swagger-ui-dist's other files (its demo page) is served.
 */
import { Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('marks every reply nosniff: the API, the OpenAPI document, a docs asset and a 404', async () => {
  for (const path of ['/api.php?Command=user.current', '/openapi.json', '/docs/assets/swagger-ui.css', '/nowhere']) {
    const res = await h.request('GET', path);
    expect([path, res.headers['x-content-type-options']]).toEqual([path, 'nosniff']);
  }
});

it('serves only the docs assets /docs loads, not the rest of swagger-ui-dist (its demo page among them)', async () => {
  const css = await h.request('GET', '/docs/assets/swagger-ui.css');
  expect([css.status, css.headers['content-type']]).toEqual([200, expect.stringContaining('text/css')]);
  expect((await h.request('GET', '/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  for (const other of ['/docs/assets/index.html', '/docs/assets/swagger-initializer.js', '/docs/assets/package.json']) {
    expect([other, (await h.request('GET', other)).status]).toEqual([other, 404]);
  }
});
