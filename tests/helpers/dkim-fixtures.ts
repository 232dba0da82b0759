import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DkimKey } from '../../src/domains/dkim';

const DIR = path.resolve(__dirname, '../fixtures/dkim');

let pool: DkimKey[] | null = null;

/** The committed test keys (tests/fixtures/dkim), read once per jest worker. */
function fixtureKeys(): DkimKey[] {
  pool ??= fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.pem'))
    .sort()
    .map((f) => {
      const privateKeyPem = fs.readFileSync(path.join(DIR, f), 'utf8');
      const publicKeyB64 = crypto.createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
      return { privateKeyPem, publicKeyB64 };
    });
  return pool;
}

/**
 * A Services.newDkimKey that hands out the fixture keys in turn from a random start, so domains created one
 * after another (up to the pool size) get different keys, as generated ones would.
 */
export function fixtureDkimKeys(): () => Promise<DkimKey> {
  const keys = fixtureKeys();
  let next = crypto.randomInt(keys.length);
  return async () => keys[next++ % keys.length];
}
