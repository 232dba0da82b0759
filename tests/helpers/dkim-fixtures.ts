import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DkimKey } from '../../src/domains/dkim';

const DIR = path.resolve(__dirname, '../fixtures/dkim');

let files: string[] | null = null;
const keys = new Map<string, DkimKey>();

/** The committed test keys' files (tests/fixtures/dkim), listed once per test file. */
function fixtureFiles(): string[] {
  files ??= fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.pem'))
    .sort();
  return files;
}

/** One fixture key, read and its public half derived at its first use: most test files add no domain. */
function fixtureKey(file: string): DkimKey {
  let key = keys.get(file);
  if (!key) {
    const privateKeyPem = fs.readFileSync(path.join(DIR, file), 'utf8');
    const publicKeyB64 = crypto.createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
    keys.set(file, (key = { privateKeyPem, publicKeyB64 }));
  }
  return key;
}

/**
 * A Services.newDkimKey that hands out the fixture keys in turn from a random start, so domains created one
 * after another (up to the pool size) get different keys, as generated ones would.
 */
export function fixtureDkimKeys(): () => Promise<DkimKey> {
  const pool = fixtureFiles();
  let next = crypto.randomInt(pool.length);
  return async () => fixtureKey(pool[next++ % pool.length]);
}
