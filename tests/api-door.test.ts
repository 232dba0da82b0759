import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import supertest from 'supertest';
import { commands } from '../commands';
import { createUser, Harness, startHarness, uniqueDomain } from './helpers/harness';
import { loadedModules } from './helpers/loaded-modules';

let h: Harness;
let session: string;
beforeAll(async () => {
  h = await startHarness();
  session = (await createUser(h)).sessionId;
});
afterAll(async () => {
  await h.close();
});

describe('what a gateway pays for at start', () => {
  // Every process (and every jest file) builds the app and services: what only some paths use waits for them.
  it('answers without having loaded tldts or filled the slots of credential caches nothing has used', async () => {
    expect(await h.call({ Command: 'user.logout' })).toMatchObject({ Success: false, ErrorCode: 99998 });
    // tldts parses the Public Suffix List as it loads; only a signed complaint from a listed reporter needs it.
    expect(loadedModules(module).filter((f) => f.includes('/node_modules/tldts/'))).toEqual([]);
    // lru-cache fills arrays of all its `max` slots as it is made (10,000 a cache): made at the first entry instead.
    const caches = h.services.store.credentials as any;
    const made = [caches.senders, caches.smtpIdentities, caches.accountKeys, caches.accountDomains].map((c) => c.lru);
    expect([...made, caches.touches, caches.uses]).toEqual([null, null, null, null, null, null]);
  });
});

describe('/api.php transports', () => {
  it('accepts a JSON body', async () => {
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getdomains', SessionID: session } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Success: true, ErrorCode: 0, Domains: [] });
  });

  it('accepts a form-urlencoded body', async () => {
    const res = await h.request('POST', '/api.php', { form: { Command: 'emailgateway.getdomains', SessionID: session } });
    expect(res.body).toMatchObject({ Success: true, Domains: [] });
  });

  it('accepts a multipart body', async () => {
    const res = await supertest(h.app).post('/api.php').field('Command', 'emailgateway.getdomains').field('SessionID', session);
    expect(res.body).toMatchObject({ Success: true, Domains: [] });
  });

  it('accepts GET with a query string', async () => {
    const res = await h.request('GET', '/api.php', { query: { Command: 'emailgateway.getdomains', SessionID: session } });
    expect(res.body).toMatchObject({ Success: true, Domains: [] });
  });

  it('merges query-string and body parameters, the body winning', async () => {
    const res = await h.request('POST', `/api.php?Command=emailgateway.getdomains&SessionID=nope`, { body: { SessionID: session } });
    expect(res.body).toMatchObject({ Success: true });
  });

  it('reads JSON sent without a JSON content type (curl -d)', async () => {
    const res = await h.request('POST', '/api.php', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: JSON.stringify({ Command: 'emailgateway.getdomains', SessionID: session }),
    });
    expect(res.body).toMatchObject({ Success: true });
  });

  it('refuses file uploads in multipart bodies with a clear 400', async () => {
    const res = await supertest(h.app).post('/api.php').field('Command', 'emailgateway.getdomains').attach('file', Buffer.from('x'), 'x.txt');
    expect(res.status).toBe(400);
    expect(res.body.ErrorCode).toBe(100000);
    expect(res.body.ErrorText).toMatch(/File uploads/);
  });
});

describe('/api.php names', () => {
  it('matches command names case-insensitively', async () => {
    const res = await h.call({ Command: 'EmailGateway.GetDomains', SessionID: session });
    expect(res).toMatchObject({ Success: true });
  });

  it('matches parameter names case-insensitively at every depth', async () => {
    const name = uniqueDomain();
    const add = await h.call({ command: 'emailgateway.adddomain', sessionid: session, DOMAINNAME: name, SubDomain: 'out' });
    expect(add).toMatchObject({ Success: true, Domain: { SenderDomain: name, MFROMDomain: `out.${name}` } });
  });

  it("loads a command's module at its first call, and no other", async () => {
    const dir = path.resolve(__dirname, '../commands');
    const loaded = () =>
      loadedModules(module)
        .filter((f) => path.dirname(f) === dir && !f.endsWith('index.ts'))
        .map((f) => path.basename(f, '.ts'));
    const before = loaded();
    expect(before).not.toContain('emailgateway.getsmtps');
    expect(before.length).toBeLessThan(Object.keys(commands).length / 4);
    // Its own code for the missing DomainID: the reply needs the module's errors and its schema.
    const res = await h.call({ Command: 'EmailGateway.GetSMTPs', SessionID: session });
    expect(res).toMatchObject({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
    expect(loaded().sort()).toEqual([...before, 'emailgateway.getsmtps'].sort());
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'nope.command'])('treats %s as an unknown command (100003, HTTP 400)', async (name) => {
    const res = await h.request('POST', '/api.php', { body: { Command: name } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      Success: false,
      ErrorCode: 100003,
      ErrorText: `Invalid API command: "${name}" not found.`,
      Errors: [{ Code: 100003, Message: `Invalid API command: "${name}" not found.` }],
    });
  });

  it('answers 100003 when no Command is sent', async () => {
    const res = await h.request('POST', '/api.php', { body: {} });
    expect(res.status).toBe(400);
    expect(res.body.ErrorCode).toBe(100003);
    expect(res.body.ErrorText).toMatch(/Missing API command/);
  });

  it('drops prototype-polluting keys instead of merging them', async () => {
    const res = await h.request('POST', '/api.php', {
      headers: { 'Content-Type': 'application/json' },
      body: '{"Command":"emailgateway.getdomains","SessionID":"' + session + '","__proto__":{"polluted":1}}',
    });
    expect(res.body).toMatchObject({ Success: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('/api.php hard failures', () => {
  it('answers invalid JSON with 100000 and HTTP 400, in JSON even when XML is asked for', async () => {
    const res = await h.request('POST', '/api.php?ResponseFormat=XML', { headers: { 'Content-Type': 'application/json' }, body: '{"Command": ' });
    expect(res.status).toBe(400);
    expect(res.type).toBe('application/json');
    expect(res.body.ErrorCode).toBe(100000);
    expect(res.body.Errors[0].Code).toBe(100000);
  });

  it('answers a JSON array body with 100000', async () => {
    const res = await h.request('POST', '/api.php', { headers: { 'Content-Type': 'application/json' }, body: '[1,2]' });
    expect(res.status).toBe(400);
    expect(res.body.ErrorCode).toBe(100000);
  });

  it.each(['PUT', 'DELETE', 'PATCH'])('answers %s with 100001 and HTTP 400', async (method) => {
    const res = await (supertest(h.app) as any)[method.toLowerCase()]('/api.php').send({ Command: 'emailgateway.getdomains' });
    expect(res.status).toBe(400);
    expect(res.body.ErrorCode).toBe(100001);
  });

  it('answers an oversized body with HTTP 413 and a clear message', async () => {
    const small = await startHarness({ MAX_REQUEST_BYTES: '2048' });
    try {
      const res = await small.request('POST', '/api.php', { body: { Command: 'emailgateway.getdomains', Filler: 'x'.repeat(5000) } });
      expect(res.status).toBe(413);
      expect(res.body.ErrorCode).toBe(100006);
      expect(res.body.ErrorText).toMatch(/larger than 2048 bytes/);
    } finally {
      await small.close();
    }
  });

  it('counts a multipart body as a whole: many fields under the per-field limit still get 413 (sized or chunked)', async () => {
    const small = await startHarness({ MAX_REQUEST_BYTES: '2048' });
    const server = http.createServer(small.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      let form = supertest(small.app).post('/api.php').field('Command', 'emailgateway.getdomains');
      for (let i = 0; i < 10; i += 1) form = form.field(`F${i}`, 'x'.repeat(1000));
      const sized = await form;
      expect(sized.status).toBe(413);
      expect(sized.body.ErrorCode).toBe(100006);
      // No Content-Length: the bytes are counted as they come.
      const boundary = 'postern-test-boundary';
      const part = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            method: 'POST',
            path: '/api.php',
            headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
          },
          (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.write(part('Command', 'emailgateway.getdomains'));
        for (let i = 0; i < 10; i += 1) req.write(part(`F${i}`, 'x'.repeat(1000)));
        req.end(`--${boundary}--\r\n`);
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).ErrorCode).toBe(100006);
      // Within the limit, a multipart body still reads.
      const ok = await supertest(small.app).post('/api.php').field('Command', 'emailgateway.getdomains').field('F', 'x'.repeat(500));
      expect(ok.status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await small.close();
    }
  });

  it('answers an unhandled exception with 100005, HTTP 500, a request id and no stack trace', async () => {
    const spy = jest.spyOn(h.services.dns, 'verify').mockRejectedValueOnce(new Error('boom at /secret/path.ts:1'));
    try {
      const u = await createUser(h);
      const add = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: uniqueDomain() });
      const res = await h.request('POST', '/api.php', {
        headers: { 'X-Request-Id': 'req-123' },
        body: { Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: add.NewSenderDomainID },
      });
      expect(res.status).toBe(500);
      expect(res.headers['x-request-id']).toBe('req-123');
      expect(res.body.ErrorCode).toBe(100005);
      expect(res.body.ErrorText).toContain('req-123');
      expect(JSON.stringify(res.body)).not.toMatch(/secret|boom|\.ts/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('/api.php envelopes', () => {
  it('answers validation failures as an array with ErrorText beside it', async () => {
    const res = await h.call({ Command: 'emailgateway.addapi', SessionID: session });
    expect(res).toEqual({
      Success: false,
      ErrorCode: [1, 2],
      ErrorText: ['Missing required parameter (Description)', 'Missing required parameter (DomainID)'],
    });
  });

  it('answers an auth failure with 99998 as a scalar and HTTP 200', async () => {
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getdomains', SessionID: 'nope' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });

  it('answers in XML when ResponseFormat=XML, with CDATA scalars and node_N list items', async () => {
    const name = uniqueDomain();
    await h.call({ Command: 'emailgateway.adddomain', SessionID: session, DomainName: name });
    const res = await h.request('POST', '/api.php', { form: { Command: 'emailgateway.getdomains', SessionID: session, ResponseFormat: 'XML' } });
    expect(res.type).toBe('text/xml');
    expect(res.text).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<response><Success><!\[CDATA\[true\]\]><\/Success><ErrorCode><!\[CDATA\[0\]\]><\/ErrorCode><Domains><node_0>/,
    );
    expect(res.text).toContain(`<SenderDomain><![CDATA[${name}]]></SenderDomain>`);
  });

  it('treats ResponseFormat values other than exactly XML as JSON', async () => {
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getdomains', SessionID: session, ResponseFormat: 'xml' } });
    expect(res.type).toBe('application/json');
  });

  it('answers errors in XML too', async () => {
    const res = await h.request('GET', '/api.php', {
      query: { Command: 'emailgateway.getdomain', SessionID: session, DomainID: 999999, ResponseFormat: 'XML' },
    });
    expect(res.text).toContain('<Success><![CDATA[false]]></Success><ErrorCode><![CDATA[2]]></ErrorCode>');
  });

  it('keeps "]]>" inside a value intact in XML', async () => {
    const u = await createUser(h, { FirstName: 'a]]>b' });
    const res = await h.request('GET', '/api.php', { query: { Command: 'user.current', SessionID: u.sessionId, ResponseFormat: 'XML' } });
    expect(res.text).toContain('<FirstName><![CDATA[a]]]]><![CDATA[>b]]></FirstName>');
  });
});

describe('health endpoints', () => {
  it('answers /healthz while the process is up', async () => {
    const res = await h.request('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', role: 'all' });
  });

  it('answers /readyz with the database and Redis reachable', async () => {
    const res = await h.request('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body.checks.database).toBe('ok');
    expect(res.body.checks.redis).toBe(h.backend === 'mysql' ? 'ok' : 'not configured (in-process queue)');
  });

  it('answers unknown paths with a 404 in the v1 error envelope', async () => {
    const res = await h.request('GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.body.Errors[0].Code).toBe(404);
  });
});
