import net from 'node:net';

export interface Tarpit {
  port: number;
  /** Sessions open now. */
  open: number;
  /** RCPT TO addresses in the order they came (one per transaction). */
  rcpts: string[];
  /** Messages accepted (DATA ended with 250), by recipient. */
  delivered: string[];
  close(): Promise<void>;
}

/**
 * A minimal SMTP server on 127.0.0.1 whose reply to RCPT TO of an address `slow` picks never ends: one continuation
 * line (`250-`) every `everyMs`, each well within any idle timeout. Other recipients are accepted at once.
 */
export async function startTarpit(slow: (rcpt: string) => boolean, everyMs = 100): Promise<Tarpit> {
  const sockets = new Set<net.Socket>();
  const pit: Tarpit = { port: 0, open: 0, rcpts: [], delivered: [], close: async () => undefined };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    pit.open += 1;
    let timer: NodeJS.Timeout | undefined;
    let buffer = '';
    let inData = false;
    let rcpt = '';
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      pit.open -= 1;
    });
    socket.write('220 tarpit.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line !== '.') continue;
          inData = false;
          pit.delivered.push(rcpt);
          socket.write('250 2.0.0 queued\r\n');
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 tarpit.test\r\n');
        else if (verb === 'MAIL' || verb === 'RSET' || verb === 'NOOP') socket.write('250 2.0.0 ok\r\n');
        else if (verb === 'RCPT') {
          rcpt = (/<([^>]*)>/.exec(line)?.[1] ?? '').toLowerCase();
          pit.rcpts.push(rcpt);
          if (slow(rcpt)) timer = setInterval(() => socket.write('250-still thinking\r\n'), everyMs);
          else socket.write('250 2.1.5 ok\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('502 5.5.2 not implemented\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pit.port = (server.address() as net.AddressInfo).port;
  pit.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return pit;
}
