/**
 * Local domain verification (POSTERN_DEV=1) and its limits: reserved test names verify without DNS, nothing else
 * does, and a production deployment (DATABASE_URL or NODE_ENV=production) never verifies a name whose DNS is
 * not right, even with a config object that claims development mode.
 */
import supertest from 'supertest';
import { createApp } from '../../src/app';
import { ConfigError, loadConfig } from '../../src/config';
import { devEnvironment, isReservedTestName } from '../../src/domains/dev-mode';
import { createLogger } from '../../src/logger';
import { buildServices, closeServices } from '../../src/services';
import { addDomain, backend, createUser, Harness, startHarness } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';

const { logger, lines } = capturingLogger();

async function verify(h: Harness, sessionId: string, domainId: number): Promise<string> {
  const r = await h.call({ Command: 'emailgateway.verifydomain', SessionID: sessionId, DomainID: domainId });
  expect(r.Success).toBe(true);
  return r.Domain.Status;
}

describe('reserved test names (RFC 2606, RFC 6761)', () => {
  it.each([
    ['example.com', true],
    ['shop.example.org', true],
    ['sl.example.net', true],
    ['mail.acme.test', true],
    ['acme.example', true],
    ['app.localhost', true],
    ['example.com.evil.io', false],
    ['notexample.com', false],
    ['example.co', false],
    ['mytest', false],
    ['test.io', false],
    ['example.community', false],
  ])('%s → %s', (name, reserved) => {
    expect(isReservedTestName(name)).toBe(reserved);
  });
});

describe('a production deployment', () => {
  it('refuses POSTERN_DEV=1 with DATABASE_URL or NODE_ENV=production', () => {
    expect(() => loadConfig({ POSTERN_DEV: '1', NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ POSTERN_DEV: '1', DATABASE_URL: 'mysql://u@db/x', ENCRYPTION_KEY: 'ab'.repeat(32) })).toThrow(
      /POSTERN_DEV=1 .* DATABASE_URL set/,
    );
  });

  it('`postern dev` (npm start) turns development mode on for a laptop and never for a production environment', () => {
    expect(loadConfig(devEnvironment({})).devMode).toBe(true);
    expect(loadConfig(devEnvironment({})).deliveryMode).toBe('capture');
    expect(loadConfig(devEnvironment({ NODE_ENV: 'production' })).devMode).toBe(false);
    expect(loadConfig(devEnvironment({ NODE_ENV: 'production' })).deliveryMode).toBe('mx');
    const mysql = { DATABASE_URL: 'mysql://u@db/x', ENCRYPTION_KEY: 'ab'.repeat(32) };
    expect(loadConfig(devEnvironment(mysql)).devMode).toBe(false);
    // An explicit choice is kept: off on a laptop, and still refused in production.
    expect(loadConfig(devEnvironment({ POSTERN_DEV: '0' })).devMode).toBe(false);
    expect(() => loadConfig(devEnvironment({ ...mysql, POSTERN_DEV: '1' }))).toThrow(ConfigError);
  });

  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ NODE_ENV: 'production' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('never enables a reserved test name whose DNS is not right, even from a config object claiming development mode', async () => {
    const u = await createUser(h);
    const id = await addDomain(h, u.sessionId, 'shop.example.test');
    expect(await verify(h, u.sessionId, id)).toBe('Approval Pending');

    // A config built by hand (bypassing loadConfig's refusal) still gets the plain DNS verifier.
    const forged = buildServices({ ...h.services.config, devMode: true }, createLogger('error', true));
    try {
      const r = await supertest(createApp(forged).app).post('/api.php').send({ Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: id });
      expect(r.body).toMatchObject({ Success: true, Domain: { Status: 'Approval Pending' } });
      expect(Object.values(r.body.DNSVerificationResults).every((x) => !(x as unknown[])[2])).toBe(true);
    } finally {
      await closeServices(forged);
    }
  });
});

// Development mode runs only on the embedded default (with DATABASE_URL it is refused, as tested above).
(backend() === 'sqlite' ? describe : describe.skip)('development mode (POSTERN_DEV=1, embedded)', () => {
  let h: Harness;
  let sessionId: string;
  beforeAll(async () => {
    h = await startHarness({ POSTERN_DEV: '1' }, { logger });
    sessionId = (await createUser(h)).sessionId;
  });
  afterAll(async () => {
    await h.close();
  });

  it('captures mail by default', () => {
    expect(h.services.config.deliveryMode).toBe('capture');
  });

  it.each(['example.com', 'shop.example.test', 'news.example.org'])('verifies %s without DNS and says so in the log', async (name) => {
    const id = await addDomain(h, sessionId, name);
    expect(await verify(h, sessionId, id)).toBe('Enabled');
    const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn' && /WITHOUT DNS/.test(l.message));
    expect(warned.some((l) => l.hosts.includes(`key1._domainkey.${name}`))).toBe(true);
  });

  it.each(['example.com.evil.io', 'notexample.com'])('still asks DNS for %s (not reserved), which fails here', async (name) => {
    const id = await addDomain(h, sessionId, name);
    expect(await verify(h, sessionId, id)).toBe('Approval Pending');
  });
});
