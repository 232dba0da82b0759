import http from 'node:http';
import type { Config } from '../config';
import type { Logger } from '../logger';

type Limits = Pick<Config, 'httpMaxConnections' | 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs'>;

/** How often a refusal of connections over HTTP_MAX_CONNECTIONS is logged at most: a flood must not flood the log too. */
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * The api's HTTP server, bounded against clients that hold connections open: a slow client gets 408 once its
 * headers take longer than HTTP_HEADERS_TIMEOUT_MS or its whole request longer than HTTP_REQUEST_TIMEOUT_MS, and
 * connections past HTTP_MAX_CONNECTIONS are closed as they arrive, so many slow clients cannot use up the
 * process's file descriptors.
 */
export function createHttpServer(handler: http.RequestListener, limits: Limits, logger: Logger): http.Server {
  // Replies under way, and whether close() was called: see the close below.
  const replying = new Set<http.ServerResponse>();
  let closing = false;
  const server = http.createServer(
    {
      headersTimeout: limits.httpHeadersTimeoutMs,
      requestTimeout: limits.httpRequestTimeoutMs,
      // node checks both timeouts on this interval (30 s by default), so a short timeout would apply up to 30 s late.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.httpHeadersTimeoutMs / 4))),
    },
    (req, res) => {
      if (closing) res.shouldKeepAlive = false;
      else {
        replying.add(res);
        res.once('close', () => replying.delete(res));
      }
      handler(req, res);
    },
  );
  /**
   * Once closing (the stop on SIGTERM), every reply not yet begun is its connection's last (`Connection: close`). node
   * stops taking connections but goes on serving new requests on kept-alive ones, so a client that reuses its
   * connections (a load balancer) kept sending on them through the whole grace period, and the one in flight when it
   * ended was cut off: now each connection closes after its reply and the server is closed as soon as they are done.
   */
  const close = server.close.bind(server);
  server.close = ((callback?: (err?: Error) => void) => {
    closing = true;
    for (const res of replying) if (!res.headersSent) res.shouldKeepAlive = false;
    return close(callback);
  }) as typeof server.close;
  // Above the 60 s idle timeout of common load balancers, so they close first and never send into a closing socket.
  server.keepAliveTimeout = 65_000;
  server.maxConnections = limits.httpMaxConnections;
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
    lastLog = now;
    logger.warn('HTTP connections refused: HTTP_MAX_CONNECTIONS reached', { limit: limits.httpMaxConnections, refused: dropped });
    dropped = 0;
  });
  return server;
}
