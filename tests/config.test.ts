import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';

describe('config', () => {
  it('gives the embedded defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      role: 'all',
      port: 8080,
      databaseUrl: null,
      redisUrl: null,
      adminApiKey: null,
      sessionIdleSeconds: 3600,
      mfromSubdomain: 'sl',
      trackPrefix: 'track',
      trackMerge: '-',
      dkimSelector: 'key1',
      smtpPublicPorts: [2525],
    });
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.webhooks).toEqual({
      allowPrivate: false,
      timeoutMs: 10000,
      pollMs: 1000,
      maxFailures: 100,
      retryBaseMs: 10000,
      maxAgeMs: 86_400_000,
      concurrency: 10,
      keyGraceMs: 86_400_000,
      leaseGraceMs: 60_000,
    });
  });

  it('advertises the SMTP ports the relay front will listen on unless SMTP_PUBLIC_PORTS says otherwise', () => {
    expect(loadConfig({ SMTP_SUBMISSION_PORT: '587' }).smtpPublicPorts).toEqual([2525, 587]);
    expect(loadConfig({ SMTP_TLS_CERT: '/c.pem', SMTP_TLS_KEY: '/k.pem' }).smtpPublicPorts).toEqual([2525, 465]);
    expect(loadConfig({ SMTP_TLS_CERT: '/c.pem' }).smtpPublicPorts).toEqual([2525]);
    expect(loadConfig({ SMTP_PORT: '0' }).smtpPublicPorts).toEqual([]);
    expect(loadConfig({ SMTP_PUBLIC_PORTS: '587' }).smtpPublicPorts).toEqual([587]);
  });

  it('defaults to capture delivery in development mode, which production refuses', () => {
    expect(loadConfig({ POSTERN_DEV: '1' })).toMatchObject({ devMode: true, production: false, deliveryMode: 'capture' });
    expect(loadConfig({ POSTERN_DEV: '1', DELIVERY_MODE: 'mx' }).deliveryMode).toBe('mx');
    expect(loadConfig({ NODE_ENV: 'production' })).toMatchObject({ devMode: false, production: true, deliveryMode: 'mx' });
  });

  it('hashes passwords at scrypt cost 2^15 unless the test suite asks for a cheaper one', () => {
    expect(loadConfig({}).passwordHashCost).toBe(15);
    expect(loadConfig({ PASSWORD_HASH_COST: '16' }).passwordHashCost).toBe(16);
    expect(loadConfig({ PASSWORD_HASH_COST: '10', NODE_ENV: 'test' }).passwordHashCost).toBe(10);
  });

  it('takes retry and sweep schedules and the delivery age limit in milliseconds under NODE_ENV=test only', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      RETRY_SCHEDULE_MS: '200,500',
      SWEEP_INTERVAL_MS: '100',
      SWEEP_GRACE_MS: '750',
      SWEEP_GRACE_SECONDS: '9',
      DELIVERY_MAX_AGE_MS: '800',
      DELIVERY_MAX_AGE_SECONDS: '9',
    });
    expect(c).toMatchObject({ retryScheduleSeconds: [0.2, 0.5], sweepIntervalSeconds: 0.1, sweepGraceSeconds: 0.75, deliveryMaxAgeSeconds: 0.8 });
    for (const name of ['RETRY_SCHEDULE_MS', 'SWEEP_INTERVAL_MS', 'SWEEP_GRACE_MS', 'DELIVERY_MAX_AGE_MS', 'WEBHOOK_LEASE_GRACE_MS']) {
      expect(() => loadConfig({ [name]: '100' })).toThrow(`${name} is for the test suite only (NODE_ENV=test); use ${name.replace(/_MS$/, '_SECONDS')}`);
      expect(() => loadConfig({ [name]: '100', NODE_ENV: 'production' })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ NODE_ENV: 'test', RETRY_SCHEDULE_MS: '200,x' })).toThrow('RETRY_SCHEDULE_MS must be comma-separated milliseconds (got "200,x")');
  });

  it('lets the CLI role argument win over ROLE', () => {
    expect(loadConfig({ ROLE: 'worker' }, 'api').role).toBe('api');
    expect(loadConfig({ ROLE: 'worker' }).role).toBe('worker');
  });

  it('lets a second group commit start beside a running one after 50 ms in the smtp role and at once elsewhere, unless GROUP_COMMIT_OVERLAP_MS says otherwise', () => {
    expect(loadConfig({}, 'smtp').groupCommitOverlapMs).toBe(50);
    expect(loadConfig({ ROLE: 'smtp' }).groupCommitOverlapMs).toBe(50);
    expect(loadConfig({}, 'api').groupCommitOverlapMs).toBe(0);
    expect(loadConfig({}).groupCommitOverlapMs).toBe(0);
    expect(loadConfig({ GROUP_COMMIT_OVERLAP_MS: '0' }, 'smtp').groupCommitOverlapMs).toBe(0);
    expect(() => loadConfig({ GROUP_COMMIT_OVERLAP_MS: '-1' })).toThrow(ConfigError);
  });

  it('caps the smarthost sessions of a worker at 20 unless SMTP_RELAY_MAX_CONNECTIONS says otherwise', () => {
    expect(loadConfig({}).smtpRelayMaxConnections).toBe(20);
    expect(loadConfig({ SMTP_RELAY_MAX_CONNECTIONS: '50' }).smtpRelayMaxConnections).toBe(50);
    expect(() => loadConfig({ SMTP_RELAY_MAX_CONNECTIONS: '0' })).toThrow('SMTP_RELAY_MAX_CONNECTIONS must be between 1 and 1000 (got 0)');
    expect(() => loadConfig({ SMTP_RELAY_MAX_CONNECTIONS: 'many' })).toThrow('SMTP_RELAY_MAX_CONNECTIONS must be a whole number (got "many")');
  });

  it('reads MTA_STS (on unless 0) and MTA_STS_PORT, and names a bad value', () => {
    expect(loadConfig({})).toMatchObject({ mtaSts: true, mtaStsPort: 443 });
    expect(loadConfig({ MTA_STS: '0', MTA_STS_PORT: '8443' })).toMatchObject({ mtaSts: false, mtaStsPort: 8443 });
    expect(() => loadConfig({ MTA_STS: 'enforce' })).toThrow('MTA_STS must be 1 or 0 (got "enforce")');
  });

  it('reads COMPLAINT_TRUSTED_SOURCES into reporter addresses, domains, .domains (ASCII) and IPs, off when unset, and names a bad entry', () => {
    expect(loadConfig({}).complaintTrustedSources).toBeNull();
    expect(
      loadConfig({
        COMPLAINT_TRUSTED_SOURCES:
          ' FeedBack@FBL.Example.net, Fbl.example.org, .bücher.example 192.0.2.25,10.1.0.0/16, ::ffff:198.51.100.7 loop@bücher.example ',
      }).complaintTrustedSources,
    ).toEqual({
      domains: ['fbl.example.org'],
      domainTrees: ['xn--bcher-kva.example'],
      reporters: ['feedback@fbl.example.net', 'loop@xn--bcher-kva.example'],
      ips: ['192.0.2.25', '10.1.0.0/16', '198.51.100.7'],
    });
    expect(() => loadConfig({ COMPLAINT_TRUSTED_SOURCES: 'fbl.example.org, 10.0.0.0/33' })).toThrow(
      'COMPLAINT_TRUSTED_SOURCES entry "10.0.0.0/33" must be an address, a domain, a .domain, an IP address or a CIDR range',
    );
    expect(() => loadConfig({ COMPLAINT_TRUSTED_SOURCES: 'localhost' })).toThrow('COMPLAINT_TRUSTED_SOURCES entry "localhost"');
    expect(() => loadConfig({ COMPLAINT_TRUSTED_SOURCES: '.localhost' })).toThrow('COMPLAINT_TRUSTED_SOURCES entry ".localhost"');
    expect(() => loadConfig({ COMPLAINT_TRUSTED_SOURCES: 'feedback@localhost' })).toThrow('COMPLAINT_TRUSTED_SOURCES entry "feedback@localhost"');
    expect(() => loadConfig({ COMPLAINT_TRUSTED_SOURCES: '"a b"@fbl.example.net' })).toThrow('COMPLAINT_TRUSTED_SOURCES entry');
  });

  it('reads MX_TLS and MX_TLS_DOMAINS, and names a bad value or entry', () => {
    expect(loadConfig({})).toMatchObject({ mxTls: 'may', mxTlsDomains: {} });
    expect(loadConfig({ MX_TLS: 'Encrypt', MX_TLS_DOMAINS: ' Bank.example=verify, .gov.example=encrypt ' })).toMatchObject({
      mxTls: 'encrypt',
      mxTlsDomains: { 'bank.example': 'verify', '.gov.example': 'encrypt' },
    });
    expect(() => loadConfig({ MX_TLS: 'required' })).toThrow('MX_TLS must be may, encrypt or verify (got "required")');
    expect(() => loadConfig({ MX_TLS_DOMAINS: 'bank.example=verify,gov.example' })).toThrow(
      'MX_TLS_DOMAINS entry "gov.example" must be domain=may|encrypt|verify (.domain for its subdomains)',
    );
    expect(() => loadConfig({ MX_TLS_DOMAINS: 'bank.example=strict' })).toThrow(ConfigError);
    expect(() => loadConfig({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: 'smtp://relay.test?starttls=yes' })).toThrow(
      `SMTP_RELAY_URL's starttls must be "required" when given (got "yes")`,
    );
  });

  it('reads production settings', () => {
    const key = 'ab'.repeat(32);
    const c = loadConfig({
      DATABASE_URL: 'mysql://u:p@db:3306/x',
      REDIS_URL: 'redis://r:6379',
      ENCRYPTION_KEY: key,
      ADMIN_API_KEY: 'k7Qm2xR9pL4vB8nZ',
      DNS_SERVERS: '127.0.0.1:5353, [::1]:53,1.1.1.1',
    });
    expect(c.encryptionKey?.toString('hex')).toBe(key);
    expect(c.dnsServers).toEqual(['127.0.0.1:5353', '[::1]:53', '1.1.1.1']);
  });

  it.each([
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535 (got 70000)'],
    [{ PORT: '8o8o' }, 'PORT must be a whole number (got "8o8o")'],
    [{ SESSION_IDLE_SECONDS: '5' }, 'SESSION_IDLE_SECONDS must be between 60 and 2592000 (got 5)'],
    [{ PASSWORD_HASH_COST: '12' }, 'PASSWORD_HASH_COST=12 is below the minimum of 15; a lower cost is accepted only with NODE_ENV=test'],
    [
      { PASSWORD_HASH_COST: '10', NODE_ENV: 'production' },
      'PASSWORD_HASH_COST=10 is below the minimum of 15; a lower cost is accepted only with NODE_ENV=test',
    ],
    [{ PASSWORD_HASH_COST: '9', NODE_ENV: 'test' }, 'PASSWORD_HASH_COST must be between 10 and 17 (got 9)'],
    [{ ENCRYPTION_KEY: 'short' }, 'ENCRYPTION_KEY must be 32 bytes written as 64 hex characters or base64'],
    [{ DATABASE_URL: 'postgres://x/y', ENCRYPTION_KEY: 'ab'.repeat(32) }, 'DATABASE_URL must start with mysql:// or mysql2:// or mariadb://'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY must be at least 16 characters long'],
    [{ ADMIN_API_KEY: 'k'.repeat(20) }, 'ADMIN_API_KEY must use at least 8 different characters (generate one with: openssl rand -hex 24)'],
    [{ ADMIN_API_KEY: 'abc1'.repeat(6) }, 'ADMIN_API_KEY must use at least 8 different characters (generate one with: openssl rand -hex 24)'],
    [{ MFROM_SUBDOMAIN: '-bad' }, 'MFROM_SUBDOMAIN must be a DNS label of letters, digits and inner hyphens, at most 32 long (got "-bad")'],
    [{ TRACK_MERGE: '_' }, 'TRACK_MERGE must be "-", "." or empty (got "_")'],
    [{ DNS_SERVERS: 'a b' }, 'DNS_SERVERS entry "a b" must be host, host:port or [ipv6]:port'],
    [{ SMTP_PUBLIC_PORTS: '25,x' }, 'SMTP_PUBLIC_PORTS must be comma-separated port numbers (got "25,x")'],
    [{ DELIVERY_MODE: 'smtp' }, 'DELIVERY_MODE must be mx, relay or capture (got "smtp")'],
    [
      { POSTERN_DEV: '1', NODE_ENV: 'production' },
      'POSTERN_DEV=1 verifies test domains without DNS and cannot run with NODE_ENV=production (a production deployment)',
    ],
    [{ CAPTURE_MAX_MESSAGES: '0' }, 'CAPTURE_MAX_MESSAGES must be between 1 and 1000000 (got 0)'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of error, warn, info, debug (got "loud")'],
    [{ WEBHOOK_TIMEOUT_MS: '50' }, 'WEBHOOK_TIMEOUT_MS must be between 100 and 120000 (got 50)'],
    [{ WEBHOOK_CONCURRENCY: 'ten' }, 'WEBHOOK_CONCURRENCY must be a whole number (got "ten")'],
    [{ WEBHOOK_ALLOW_PRIVATE: 'maybe' }, 'WEBHOOK_ALLOW_PRIVATE must be 1 or 0 (got "maybe")'],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(new ConfigError(message));
  });
});

describe('SENDING_IP_POOLS and DEFAULT_IP_POOL', () => {
  const pools = (v: unknown) => ({ SENDING_IP_POOLS: typeof v === 'string' ? v : JSON.stringify(v) });
  const entry = (address: unknown, hostname: unknown = 'mta1.example.com') => ({ address, hostname });

  it('reads the pools (addresses in canonical form, hostnames in lower case) and the default; unset means none', () => {
    expect(loadConfig({})).toMatchObject({ sendingIpPools: new Map(), defaultIpPool: null });
    const c = loadConfig({
      ...pools({ transactional: [entry('203.0.113.10', 'MTA1.Example.com.')], bulk_2: [entry('2001:DB8:0::10', 'mta6.example.com')] }),
      DEFAULT_IP_POOL: 'transactional',
    });
    expect(c.sendingIpPools).toEqual(
      new Map([
        ['transactional', [{ address: '203.0.113.10', hostname: 'mta1.example.com', family: 4 }]],
        ['bulk_2', [{ address: '2001:db8::10', hostname: 'mta6.example.com', family: 6 }]],
      ]),
    );
    expect(c.defaultIpPool).toBe('transactional');
  });

  it.each([
    [pools('{"a": [}'), /^SENDING_IP_POOLS is not valid JSON \(.+\); expected \{"pool":/],
    [pools([entry('203.0.113.10')]), /^SENDING_IP_POOLS must be a JSON object of pool name to addresses/],
    [pools({ 'Bad Name': [entry('203.0.113.10')] }), /^SENDING_IP_POOLS pool name "Bad Name" must be 1-32 of a-z, 0-9, _ and -$/],
    [pools({ ['x'.repeat(33)]: [entry('203.0.113.10')] }), /pool name "x{33}" must be 1-32/],
    [pools({ a: [] }), /^SENDING_IP_POOLS pool "a" must be a non-empty list/],
    [pools({ a: [entry('mta1.example.com')] }), /^SENDING_IP_POOLS pool "a" entry 1: address must be an IPv4 or IPv6 literal \(got "mta1.example.com"\)$/],
    [pools({ a: [entry('203.0.113.300')] }), /entry 1: address must be an IPv4 or IPv6 literal/],
    [pools({ a: [entry('fe80::1%eth0')] }), /entry 1: address must be an IPv4 or IPv6 literal/],
    [pools({ a: [entry('0.0.0.0')] }), /entry 1: address 0\.0\.0\.0 is the unspecified address/],
    [pools({ a: [entry('::ffff:203.0.113.10')] }), /IPv4-mapped IPv6 address; give the IPv4 address/],
    [pools({ a: [entry('203.0.113.10', 'mta1')] }), /entry 1: hostname must be a fully qualified host name \(got "mta1"\)$/],
    [pools({ a: [entry('203.0.113.10', 'mta_1.example.com')] }), /hostname must be a fully qualified host name/],
    [pools({ a: [{ address: '203.0.113.10' }] }), /hostname must be a fully qualified host name \(got undefined\)/],
    [pools({ a: [{ ...entry('203.0.113.10'), helo: 'x' }] }), /entry 1: unknown field "helo" \(address, hostname\)$/],
    [pools({ a: [entry('203.0.113.10'), entry('203.0.113.10')] }), /pool "a" lists 203\.0\.113\.10 twice$/],
    [pools({ a: [entry('203.0.113.10', 'one.example.com')], b: [entry('203.0.113.10', 'two.example.com')] }), /gives 203\.0\.113\.10 two hostnames/],
    [{ ...pools({ a: [entry('203.0.113.10')] }), DEFAULT_IP_POOL: 'b' }, /^DEFAULT_IP_POOL "b" names no pool of SENDING_IP_POOLS \(a\)$/],
    [{ DEFAULT_IP_POOL: 'a' }, /^DEFAULT_IP_POOL "a" names no pool of SENDING_IP_POOLS \(none configured\)$/],
  ])('refuses %j with a ConfigError that names the bad part', (env, message) => {
    let thrown: unknown;
    try {
      loadConfig(env as Record<string, string>);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
  });

  it('lets one address serve two pools under the same hostname (a shared IP in a dedicated pool and the shared one)', () => {
    const c = loadConfig(pools({ a: [entry('203.0.113.10')], b: [entry('203.0.113.10'), entry('203.0.113.11', 'mta2.example.com')] }));
    expect([...c.sendingIpPools.keys()]).toEqual(['a', 'b']);
  });
});
