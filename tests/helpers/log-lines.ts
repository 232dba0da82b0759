import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../../src/logger';

/** The gateway's own logger at `level`, writing its JSON lines into `lines` instead of the console. */
export function capturingLogger(level = 'info'): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(level);
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }) }));
  return { logger, lines };
}
