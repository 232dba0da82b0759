import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The handlers as one express layer, tried in order: each one's `next()` goes to the following one, the last one's
 * to the app's next layer, and an error straight to the app's error handlers (every handler here is an ordinary,
 * non-error one, so express would skip the rest of them for an error as well). Express's router takes a path
 * match, a params object, a parameter-processing closure and a prefix trim for every layer it passes, whether the
 * layer takes the request or not: ten app-level doors made that a quarter of the api's garbage per single send.
 */
export function handlerChain(handlers: RequestHandler[]): RequestHandler {
  return function chain(req: Request, res: Response, next: NextFunction): void {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null) return next(err);
      if (i >= handlers.length) return next();
      const handler = handlers[i++];
      try {
        // As express 5 does for a handler that returns a promise: its rejection is the request's error.
        const out: unknown = handler(req, res, step);
        if (out instanceof Promise) out.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}
