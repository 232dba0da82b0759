/**
 * The settings of a whole gateway started in a test with `start()` (src/main.ts) as `npm start` runs it: role all,
 * embedded SQLite in `dataDir`, every listener on 127.0.0.1 and a free port, and fixture users hashed at scrypt 2^10
 * (~130 ms each at the production cost). A test adds its own on top.
 */
export function localGatewayEnv(dataDir: string, adminKey: string, mailHostname: string): Record<string, string> {
  return {
    ROLE: 'all',
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    INBOUND_SMTP_PORT: '0',
    ADMIN_API_KEY: adminKey,
    MAIL_HOSTNAME: mailHostname,
    LOG_LEVEL: 'error',
    NODE_ENV: 'test',
    PASSWORD_HASH_COST: '10',
  };
}

/**
 * `start()`'s options for such a gateway: the first start's admin credentials banner (a throwaway install's password)
 * is dropped instead of printed into every run's output; the tests sign in with the admin key.
 */
export const quietStart = { credentials: (): void => undefined };
