import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP relay on loopback between a client and a server that can stand for network latency at one chosen moment:
 * once `hold()` is called, what the server sends (and its FIN) on the connections open then waits until the client
 * next writes, so the client's next command crosses the server's last words on the wire. That is how an SMTP
 * server's idle-timeout "421 … closing connection" meets a pooled client's MAIL FROM on a real network; on
 * loopback the client would otherwise always read the 421 first. Connections opened after `hold()` pass through.
 */
export interface LagLink {
  port: number;
  /** Connections accepted so far. */
  connects: number;
  /** Held replies the client's next write released: each one a reply that crossed a command. */
  crossed: number;
  /** Holds the server's replies on the open connections until the client speaks; resolves once the server has closed each of them. */
  hold(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  held: Buffer[] | null;
  serverEnded: boolean;
  serverGone: Promise<void>;
}

export async function startLagLink(target: { host: string; port: number }): Promise<LagLink> {
  const pairs = new Set<Pair>();
  const link: LagLink = { port: 0, connects: 0, crossed: 0, hold: async () => undefined, close: async () => undefined };
  const relay = net.createServer((client) => {
    link.connects += 1;
    const server = net.connect(target.port, target.host);
    const pair: Pair = { client, server, held: null, serverEnded: false, serverGone: new Promise((r) => server.once('close', () => r())) };
    pairs.add(pair);
    const release = () => {
      if (!pair.held) return;
      if (pair.held.length) link.crossed += 1;
      for (const chunk of pair.held) client.write(chunk);
      pair.held = null;
      if (pair.serverEnded) client.end();
    };
    server.on('data', (chunk: Buffer) => (pair.held ? pair.held.push(chunk) : client.write(chunk)));
    server.on('end', () => {
      pair.serverEnded = true;
      if (!pair.held) client.end();
    });
    client.on('data', (chunk: Buffer) => {
      release();
      if (!server.destroyed && server.writable) server.write(chunk);
    });
    client.on('end', () => server.end());
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('close', drop);
    server.on('error', () => undefined); // writes after the server closed: the client learns from its replies
    client.on('error', drop);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
  link.port = (relay.address() as AddressInfo).port;
  link.hold = async () => {
    const open = [...pairs];
    for (const p of open) p.held = [];
    await Promise.all(open.map((p) => p.serverGone));
  };
  link.close = () =>
    new Promise<void>((resolve) => {
      for (const p of pairs) {
        p.client.destroy();
        p.server.destroy();
      }
      relay.close(() => resolve());
    });
  return link;
}
