import http from 'node:http';
import https from 'node:https';
import { Address, bareHost, pinnedLookup } from './url-guard';

export const USER_AGENT = 'Postern-Webhooks/1.0';

/** One POST to a vetted address: no redirects followed, no connection reuse, a hard limit on the whole exchange. */
export function postWebhook(
  url: URL,
  pinned: Address,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<{ status: number | null; error: string | null }> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, error });
    };
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(
      {
        method: 'POST',
        host: bareHost(url),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
        lookup: pinnedLookup(pinned),
      },
      (res) => {
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > 64 * 1024) {
            res.destroy();
            finish(res.statusCode ?? null, null); // the status is all we need; a huge reply is not read to its end
          }
        });
        res.on('end', () => finish(res.statusCode ?? null, null));
        res.on('error', () => finish(res.statusCode ?? null, null));
        res.on('close', () => finish(res.statusCode ?? null, null));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(null, err.code && !/timed out/.test(err.message) ? `${err.code}: ${err.message}` : err.message));
    req.end(body);
  });
}
