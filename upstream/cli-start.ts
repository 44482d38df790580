/** What `owl-upstream run` and `local` share: refusing a start in one line, stopping on a signal. */
import { RocksError } from '../rocks/index.js';

/**
 * A start refused over a state dir (another upstream or relay holds it, OWL_ERR_STATE_LOCKED; or
 * it cannot be locked): its one-line message and exit code 1, no stack trace. Anything else is rethrown.
 */
export function refusedStart(err: unknown): never {
  if (!(err instanceof RocksError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
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
