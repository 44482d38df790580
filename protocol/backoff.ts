/**
 * Reconnect delays: jittered exponential backoff ("full jitter" over a
 * growing ceiling), for the relay's uplink and the agent's relay links
 * alike; each picks its own bounds. Pure: the random source is injected, so
 * tests are exact.
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

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
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
