import type { Socket } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * How long, and for how many more bytes, a refused upload's connection stays open after the reply: time for the client
 * to read the reply before the socket goes. Closed at once, the socket would answer the body still arriving with a
 * reset, and a client still writing (Node's http client, curl) gets ECONNRESET/EPIPE in place of the 413 it was sent.
 * Apache lingers 2 s; a client that stops at the FIN (as both do) is gone long before either bound.
 */
const LINGER_MS = 1000;
const LINGER_BYTES = 1024 * 1024;
const LINGER_CHECK_MS = 10;

/** Whether the request declares a body that has not all arrived yet. */
function bodyStillArriving(req: Request): boolean {
  if (req.complete) return false;
  return declaresBody(req);
}

function declaresBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * A reply written while the request's body is still arriving (an early 413 or 503 from src/http/body.ts, a dialect's
 * 401 before it reads the body, a 404) says `Connection: close`, and the connection is closed once the reply is out.
 * Kept alive, Node reads and drops the rest of the body to reach the next request: a client could go on streaming
 * gigabytes at the server after its refusal. Decided as the head is written, so every door's refusal is covered,
 * whoever writes it; a request whose body was read keeps its connection.
 *
 * The state (the closing sockets, one shared check timer) belongs to the app that mounts it: one per createApp.
 */
export function closeOnUnreadBody(): RequestHandler {
  /** Sockets whose reply said `Connection: close`: a request pipelined after the refused body is never run (RFC 9112 §9.6). */
  const closing = new WeakSet<Socket>();
  /** Sockets ended and waiting out their linger: when, and at how many bytes read, each is destroyed. */
  const lingering = new Map<Socket, { until: number; maxBytes: number }>();
  let timer: NodeJS.Timeout | null = null;

  // One timer polls every lingering socket's bytesRead (the HTTP parser consumes the socket natively, so no 'data'
  // event tells of what arrives); it runs only while one lingers.
  const check = () => {
    const now = Date.now();
    for (const [socket, bound] of lingering) {
      if (now < bound.until && socket.bytesRead <= bound.maxBytes && !socket.destroyed) continue;
      lingering.delete(socket);
      socket.destroy();
    }
    if (lingering.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };

  /**
   * For a reply that says `Connection: close`, Node calls the socket's destroySoon once the reply is written: this one
   * ends the socket (the client reads the reply, then its end), drops what still arrives meanwhile, and destroys it
   * LINGER_MS later, or once LINGER_BYTES more have come, if the client has not closed by then.
   */
  const lingerThenClose = (socket: Socket) => {
    socket.destroySoon = function (this: Socket) {
      if (this.destroyed || lingering.has(this)) return;
      this.end();
      lingering.set(this, { until: Date.now() + LINGER_MS, maxBytes: this.bytesRead + LINGER_BYTES });
      this.once('close', () => lingering.delete(this));
      timer ??= setInterval(check, LINGER_CHECK_MS).unref();
    };
  };

  return (req: Request, res: Response, next: NextFunction) => {
    // Pipelined behind a refused upload: left unanswered until the linger destroys the socket.
    if (closing.has(req.socket)) return;
    // Only a request that declares a body can be refused before it is read: others pay nothing here.
    if (!declaresBody(req)) return next();
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: unknown[]) {
      if (bodyStillArriving(req)) {
        this.setHeader('Connection', 'close');
        closing.add(req.socket);
        lingerThenClose(req.socket);
      }
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as typeof res.writeHead;
    next();
  };
}
