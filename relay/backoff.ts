/** The relay's uplink reconnect delays (the jittered backoff itself: protocol/backoff.ts). */
import type { BackoffOptions } from '../protocol/index.js';

export { Backoff, type BackoffOptions } from '../protocol/index.js';

/**
 * Production defaults (config `reconnect` overrides initialMs and maxMs): the
 * first retry within 100 ms, the ceiling doubling per failed attempt up to
 * 30 s. A short blip costs well under a second; a long outage costs each
 * relay two attempts a minute, so hundreds of relays do not hammer an
 * upstream that is down or just back (full jitter spreads them). A relay is
 * back within 30 s of its upstream's return.
 */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 100,
  maxMs: 30_000,
  factor: 2,
  minMs: 50,
});

/** Fast defaults for tests. */
export const TEST_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 20,
  maxMs: 200,
  factor: 2,
  minMs: 5,
});
