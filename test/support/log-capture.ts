import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.ts';

/** One JSON log line as pino writes it (level 30 info, 40 warn, 50 error). */
export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLogs {
  logger: Logger;
  /** Each line as written (pino writes one line per call). */
  lines: string[];
  /** The lines parsed. */
  records(): LogRecord[];
}

/** A real logger whose output a test reads back, to check what an operator would be told. */
export function captureLogs(level = 'info'): CapturedLogs {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level, destination }), lines, records: () => lines.map((line) => JSON.parse(line) as LogRecord) };
}
