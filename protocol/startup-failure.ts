/**
 * A start that failed, said in one line a person can act on, naming the config key to change:
 * `uplink: cannot listen on 127.0.0.1:7080 (EADDRINUSE: address already in use)`,
 * `stateDir: ENOTDIR: not a directory, mkdir '/x/afile/state'`. The relay's and the upstream's
 * CLIs print it (and exit 2); the stack trace only with --debug.
 */

/** What a program was asked to open, to name the key behind a failed listen or path. */
export interface StartupContext {
  stateDir: string;
  /** Every listener with the config key that set it (`uplink`, `listen[0]`, `metrics`). */
  listeners: { key: string; host: string; port: number }[];
}

type SystemError = Error & {
  code?: string;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
};

/** The one line (no newline) that says why the start failed. */
export function startupFailureLine(err: unknown, context: StartupContext): string {
  if (!(err instanceof Error)) return oneLine(String(err));
  const e = err as SystemError;
  if (e.syscall === 'listen' && e.port !== undefined) {
    const at = `${e.address ?? ''}:${e.port}`;
    const key = listenerKey(context, e.address, e.port);
    const why = e.message.replace(/^listen /, '').replace(` ${at}`, '');
    return oneLine(`${key === undefined ? '' : `${key}: `}cannot listen on ${at} (${why})`);
  }
  // The state dir at fault, itself or behind a coded error (`cannot lock state dir …`).
  const system = e.syscall === undefined ? (e.cause as SystemError | undefined) : e;
  if (system?.syscall !== undefined && system.path !== undefined && under(system.path, context.stateDir)) {
    return oneLine(`stateDir: ${e.message}`);
  }
  return oneLine(e.message);
}

/** With --debug: the stack trace of `err` and of each cause, for a bug report. */
export function startupFailureStack(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

function listenerKey(context: StartupContext, address: string | undefined, port: number): string | undefined {
  const samePort = context.listeners.filter((l) => l.port === port);
  return (samePort.find((l) => l.host === address) ?? samePort[0])?.key;
}

function under(path: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return d !== '' && (path === d || path.startsWith(`${d}/`));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
