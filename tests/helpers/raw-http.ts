import net from 'node:net';

/** A raw HTTP client on loopback: what it received, when it opened, and when the server closed it (epoch ms). */
export interface RawHttp {
  socket: net.Socket;
  received: () => string;
  openedAt: number;
  closedAt: Promise<number>;
}

export function rawHttp(port: number): RawHttp {
  const socket = net.connect(port, '127.0.0.1');
  const openedAt = Date.now();
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closedAt = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  return { socket, received: () => data, openedAt, closedAt };
}
