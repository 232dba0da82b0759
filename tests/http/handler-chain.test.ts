/** Handlers chained as one express layer (src/http/handler-chain.ts) answer as the same handlers mounted one by one. */
import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import supertest from 'supertest';
import { handlerChain } from '../../src/http/handler-chain';

/** An app with the handlers in one chain, then a 404 and an error handler, as src/app.ts mounts its doors. */
function appWith(handlers: RequestHandler[]) {
  const app = express();
  app.use(handlerChain(handlers));
  app.use((_req: Request, res: Response) => void res.status(404).send('none'));
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => void res.status(500).send(`error: ${err.message}`));
  return app;
}

const router = (path: string, body: string) => {
  const r = express.Router();
  r.get(path, (_req, res) => void res.send(body));
  return r;
};

describe('handlerChain', () => {
  it('gives each request to the first handler that takes it, in order, and to the app after the last', async () => {
    const seen: string[] = [];
    const note =
      (name: string): RequestHandler =>
      (_req, _res, next) => {
        seen.push(name);
        next();
      };
    const app = appWith([note('a'), router('/x', 'first'), note('b'), router('/x', 'second'), router('/y', 'y')]);
    expect((await supertest(app).get('/x')).text).toBe('first');
    expect(seen).toEqual(['a']);
    expect((await supertest(app).get('/y')).text).toBe('y');
    expect(seen).toEqual(['a', 'a', 'b']);
    const none = await supertest(app).get('/z');
    expect([none.status, none.text]).toEqual([404, 'none']);
  });

  it('sends an error, thrown, passed to next or a rejected promise, to the app error handlers and skips the rest', async () => {
    const after = jest.fn((_req: Request, res: Response) => void res.send('after'));
    const throws: RequestHandler = (req, _res, next) => {
      if (req.path === '/throw') throw new Error('thrown');
      if (req.path === '/next') return next(new Error('passed'));
      if (req.path === '/reject') return Promise.reject(new Error('rejected')) as unknown as void;
      next();
    };
    const app = appWith([throws, after]);
    for (const [path, text] of [
      ['/throw', 'error: thrown'],
      ['/next', 'error: passed'],
      ['/reject', 'error: rejected'],
    ]) {
      const r = await supertest(app).get(path);
      expect([r.status, r.text]).toEqual([500, text]);
    }
    expect(after).not.toHaveBeenCalled();
    expect((await supertest(app).get('/fine')).text).toBe('after');
  });
});
