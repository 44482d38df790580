/**
 * The agent's log: one JSON object per line on stdout, in pino's shape
 * (`level` as a number, `time` in ms, `msg`), so `jq` and the relay's and
 * upstream's log tooling read it alike. Not pino itself: pino and the
 * stream machinery it loads cost the agent 6 MB of RSS (measured on Node
 * 24), a tenth of what it may use on a host. Keys are unique by
 * construction: the fields of a call cannot repeat `level`, `time` or `msg`.
 */
import type { AgentLogger } from './log.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return code === undefined ? { message: value.message } : { message: value.message, code };
  }
  return value;
}

export function jsonLogger(
  level: LogLevel,
  base: Record<string, unknown>,
  now: () => number = Date.now,
): AgentLogger {
  const min = LEVELS[level];
  const line = (lvl: LogLevel) => {
    const n = LEVELS[lvl];
    if (n < min) return () => undefined;
    return (obj: object, msg: string): void => {
      const time = now();
      const out: Record<string, unknown> = { level: n, time, ...base };
      for (const [k, v] of Object.entries(obj)) out[k] = plain(v);
      Object.assign(out, { level: n, time, msg });
      process.stdout.write(`${JSON.stringify(out)}\n`);
    };
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
