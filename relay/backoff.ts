/** The relay's uplink reconnect delays (the jittered backoff itself: protocol/backoff.ts). */
import type { BackoffOptions } from '../protocol/index.js';

export { Backoff, type BackoffOptions } from '../protocol/index.js';

/**
 * Production defaults: first retry within 100 ms, never more than 500 ms
 * apart, so a relay is back well within a second of its upstream's return
 * (two refused connects a second per relay cost the upstream nothing).
 */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 100,
  maxMs: 500,
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
