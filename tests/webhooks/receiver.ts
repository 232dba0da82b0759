import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Hit {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Receiver {
  port: number;
  hits: Hit[];
  /** Status for one request (default 200), or a promise of it (a slow receiver); null never answers (a hung receiver). */
  respond: (hit: Hit) => number | null | Promise<number | null>;
  url(path: string): string;
  stop(): Promise<void>;
  /** Listens again on the same port (a receiver brought back). */
  restart(): Promise<void>;
}

/** A real HTTP receiver on loopback that records every request it gets. */
export async function startReceiver(): Promise<Receiver> {
  let server: http.Server;
  const r: Receiver = {
    port: 0,
    hits: [],
    respond: () => 200,
    url: (path) => `http://127.0.0.1:${r.port}${path}`,
    stop: async () => undefined,
    restart: async () => undefined,
  };
  const listen = async (port: number) => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const hit: Hit = { path: req.url ?? '', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') };
        r.hits.push(hit);
        void Promise.resolve(r.respond(hit)).then((status) => {
          if (status === null) return;
          res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    r.port = (server.address() as AddressInfo).port;
  };
  await listen(0);
  r.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  r.restart = () => listen(r.port);
  return r;
}

/**
 * Verifies a received call exactly as a customer would with the standardwebhooks package, both ways the
 * key can be given: the SigningKey as raw key text and the SigningSecret (whsec_…). Returns the parsed body.
 */
export function verifyHit(hit: Hit, signing: { SigningKey: string; SigningSecret: string }): any {
  const raw = new Webhook(signing.SigningKey, { format: 'raw' }).verify(hit.body, hit.headers);
  const std = new Webhook(signing.SigningSecret).verify(hit.body, hit.headers);
  expect(std).toEqual(raw);
  return raw;
}
