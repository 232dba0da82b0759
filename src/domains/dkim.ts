import crypto from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPair = promisify(crypto.generateKeyPair);

export interface DkimKey {
  privateKeyPem: string;
  /** base64 DER SubjectPublicKeyInfo: the `p=` tag of the DNS record. */
  publicKeyB64: string;
}

/** A fresh 2048-bit RSA key pair for rsa-sha256 signing; generated off the event loop. */
export async function generateDkimKey(bits = 2048): Promise<DkimKey> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey as unknown as string, publicKeyB64: (publicKey as unknown as Buffer).toString('base64') };
}

export function dkimRecordValue(publicKeyB64: string): string {
  return `v=DKIM1; k=rsa; p=${publicKeyB64}`;
}
