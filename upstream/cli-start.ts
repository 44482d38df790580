/**
 * What `owl-upstream run` and `local` share: a failed start in one line naming the key or file
 * (config, TLS file, port, state dir; exit code 2, the stack trace too with --debug), stopping on
 * a signal.
 */
import { startupFailureLine, startupFailureStack } from '../protocol/index.js';
import type { UpstreamConfig } from './config.js';

/** Set by `owl-upstream --debug`: a failed start prints its stack trace too. */
let debug = false;

export function setStartDebug(on: boolean): void {
  debug = on;
}

/**
 * A failed start: its one-line message (`owl-upstream: …`) and exit code 2; the stack trace only
 * with --debug. `config` (when it was loaded) names the listener or state dir at fault.
 */
export function startFailed(err: unknown, config?: UpstreamConfig): never {
  const context = {
    stateDir: config?.stateDir ?? '',
    listeners:
      config === undefined
        ? []
        : [
            { key: 'uplink', ...config.uplink },
            { key: 'api', ...config.api },
            ...config.agents.map((a, i) => ({ key: `agents[${i}]`, ...a })),
            ...(config.metrics.enabled ? [{ key: 'metrics', ...config.metrics }] : []),
          ],
  };
  process.stderr.write(`owl-upstream: ${startupFailureLine(err, context)}\n`);
  if (debug) process.stderr.write(`${startupFailureStack(err)}\n`);
  process.exit(2);
}

export function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
