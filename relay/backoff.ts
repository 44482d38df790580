/**
 * Reconnect delays: jittered exponential backoff ("full jitter" over a
 * growing ceiling). Pure: the random source is injected, so tests are exact.
 */
export interface BackoffOptions {
  /** First ceiling, ms. */
  initialMs: number;
  /** Largest ceiling, ms. */
  maxMs: number;
  /** Ceiling growth per failed attempt. */
  factor: number;
  /** Smallest delay, ms, so a flapping peer is not hammered. */
  minMs: number;
}

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

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; each call grows the ceiling. */
  next(): number {
    const { initialMs, maxMs, factor, minMs } = this.options;
    const ceiling = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt++;
    return Math.max(minMs, Math.floor(this.random() * ceiling));
  }

  /** A connection succeeded: start over. */
  reset(): void {
    this.attempt = 0;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
