import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** The gateway's app on a real listening socket on 127.0.0.1, as `npm start` serves it. */
export async function listen(app: Express): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer(app);
  // As the gateway's own server (src/http/server.ts). Node's default of 5 s closed fetch's idle keep-alive connection
  // while a test wrote fixtures for longer (200,000 opens on SQLite: ~12 s of synchronous inserts), and the next
  // request went out on the closing socket: ECONNRESET, not an error of the gateway.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * GET `path` from the listening gateway as a client that reached it under the URL `asUrl` names (its Host header), as
 * a mail reader following a tracked link does: fetch() cannot set Host. The redirect, if any, is not followed.
 */
export function getAs(base: string, asUrl: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; location?: string }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: Number(port), path, headers: { ...headers, Host: new URL(asUrl).host } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.on('error', reject);
  });
}

/**
 * Runs a curl command line copied from a spec with the real curl binary through sh, after replacing the
 * spec's host, key and example addresses (each [from, to] pair in order). Only `--silent --write-out` is
 * appended, to read the HTTP status beside the body.
 */
export async function curl(line: string, replacements: [string | RegExp, string][]): Promise<{ status: number; body: any; text: string }> {
  let cmd = line.trim();
  for (const [from, to] of replacements) cmd = cmd.replace(from, to);
  cmd += ` --silent --write-out '\\n%{http_code}'`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile('sh', ['-c', cmd], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  const cut = out.lastIndexOf('\n');
  const text = out.slice(0, cut);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: Number(out.slice(cut + 1)), body, text };
}

export const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
