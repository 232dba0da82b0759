import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../src/logger';
import { createUser, Harness, startHarness, uniqueDomain } from './helpers/harness';

const lines: string[] = [];
let h: Harness;

beforeAll(async () => {
  const logger = createLogger('debug');
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }) }));
  h = await startHarness({}, { logger });
});
afterAll(async () => {
  await h.close();
});

describe('logs', () => {
  it('write one JSON line per request with its request id, and never a credential', async () => {
    const u = await createUser(h);
    const domainId = (await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: uniqueDomain() })).NewSenderDomainID;
    const key = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, DomainID: domainId, Description: 'k' });
    const smtp = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: domainId });
    await h.request('POST', '/api.php', { headers: { 'X-Request-Id': 'trace-me-1' }, body: { Command: 'user.current', SessionID: u.sessionId } });

    const parsed = lines.map((l) => JSON.parse(l));
    const traced = parsed.find((l) => l.requestId === 'trace-me-1');
    expect(traced).toMatchObject({ message: 'request', method: 'POST', path: '/api.php', command: 'user.current', status: 200 });
    const all = lines.join('\n');
    for (const secret of [u.password, u.sessionId, h.adminKey, key.APIKey.APIKey, smtp.SMTP.SMTPPassword]) expect(all).not.toContain(secret);
  });

  it('log an inbound list webhook call by its route, never the HashedID in its path (a secret: it subscribes addresses)', async () => {
    const hashedId = crypto.randomBytes(20).toString('hex');
    await h.request('POST', `/system/webhook/${hashedId}`, { headers: { 'X-Request-Id': 'inbound-hook-1' }, body: { EmailAddress: 'a@example.com' } });
    await h.request('GET', `/SYSTEM/Webhook/${hashedId}/`, { headers: { 'X-Request-Id': 'inbound-hook-2' } }); // routes match any case
    const entries = lines.map((l) => JSON.parse(l)).filter((l) => String(l.requestId).startsWith('inbound-hook-'));
    expect(entries.map((l) => [l.message, l.path, l.command])).toEqual([
      ['request', '/system/webhook/:hashedid', 'user.webhook.receive'],
      ['request', '/system/webhook/:hashedid', 'user.webhook.receive'],
    ]);
    // A database or Redis outage on that route is logged by the v1 router's own handler: the same holds there.
    const outage = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    jest.spyOn(h.services.limits, 'limit').mockReturnValueOnce({ consume: () => Promise.reject(outage) } as never);
    const down = await h.request('POST', `/system/webhook/${hashedId}`, { headers: { 'X-Request-Id': 'inbound-hook-3' }, body: {} });
    expect(down.status).toBe(503);
    const warned = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'inbound-hook-3' && l.message === 'dependency unavailable');
    expect(warned.path).toBe('/system/webhook/:hashedid');
    expect(lines.join('\n')).not.toContain(hashedId);
  });

  it('log tracking requests by their route, never the token in the path (it unsubscribes its recipient)', async () => {
    const token = crypto.randomBytes(16).toString('base64url');
    for (const [i, path] of [`/t/u/${token}`, `/t/c/${token}`, `/t/o/${token}.gif`].entries()) {
      await h.request('GET', path, { headers: { 'X-Request-Id': `tracking-${i}` } });
    }
    await h.request('POST', `/t/u/${token}`, {
      headers: { 'X-Request-Id': 'tracking-3', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    const entries = lines.map((l) => JSON.parse(l)).filter((l) => String(l.requestId).startsWith('tracking-'));
    expect(entries.map((l) => l.path)).toEqual(['/t/u/:token', '/t/c/:token', '/t/o/:file', '/t/u/:token']);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('record an unhandled exception with its request id and stack, while the client sees neither', async () => {
    const u = await createUser(h);
    const domainId = (await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: uniqueDomain() })).NewSenderDomainID;
    const spy = jest.spyOn(h.services.dns, 'verify').mockRejectedValueOnce(new Error('resolver exploded'));
    const res = await h.request('POST', '/api.php', {
      headers: { 'X-Request-Id': 'boom-1' },
      body: { Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: domainId },
    });
    spy.mockRestore();
    expect(res.status).toBe(500);
    const entry = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'boom-1' && l.level === 'error');
    expect(entry.error).toContain('resolver exploded');
    expect(JSON.stringify(res.body)).not.toContain('resolver exploded');
  });
});

describe('database errors in logs', () => {
  it('keep the driver error but never the statement, whose bindings carry addresses', async () => {
    const address = `secret-rcpt-${Date.now()}@leak.example`;
    let err: Error | undefined;
    try {
      await h.services.db('no_such_table_for_log_test').where({ recipient: address }).first();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain(address); // knex really inlines the binding into the message
    h.services.logger.error('smtp rcpt check failed', { error: err!.message, stack: err!.stack });
    const entry = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'smtp rcpt check failed');
    expect(JSON.stringify(entry)).not.toContain(address);
    expect(entry.error).toMatch(/\[statement omitted\] - .*(no_such_table_for_log_test|doesn't exist|no such table)/);
    // Only error fields are rewritten: a remote server's reply that happens to read like SQL is logged as it came.
    h.services.logger.warn('remote reply', { reply: 'With regret - we cannot accept mail now' });
    expect(lines.map((l) => JSON.parse(l)).find((l) => l.message === 'remote reply').reply).toBe('With regret - we cannot accept mail now');
  });
});

describe('levels below the logger level', () => {
  it('are neither formatted nor written, and follow a level changed at run time', async () => {
    const out: string[] = [];
    const logger = createLogger('warn');
    logger.clear();
    logger.add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (out.push(String(chunk)), cb()) }) }));
    let formatted = 0;
    const json = logger.format;
    logger.format = winston.format.combine(winston.format((info) => ((formatted += 1), info))(), json);
    logger.info('request', { path: '/api/v1/email' });
    logger.debug('detail');
    expect(formatted).toBe(0);
    logger.warn('slow', { ms: 900 });
    logger.level = 'info';
    logger.info('request', { path: '/api/v1/email', apikey: 'eg_live_secret' });
    await new Promise((r) => setImmediate(r));
    expect(formatted).toBe(2);
    expect(out.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'warn', message: 'slow', ms: 900 }),
      expect.objectContaining({ level: 'info', message: 'request', path: '/api/v1/email', apikey: '[redacted]' }),
    ]);
  });
});
