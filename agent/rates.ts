/**
 * Counters to rates, per key, for plugins' COUNTER/DERIVE items and the
 * built-in collectors' counters alike, so resets and wraps are handled once.
 *
 * - GAUGE: the value as read.
 * - COUNTER: (v − prev) / seconds between the two readings, measured from
 *   the readings' own times (v3 divided by the configured interval, which
 *   is wrong whenever a run is late, skipped or retried).
 * - DERIVE: v − prev.
 * - The first reading of a key primes it: nothing is returned.
 * - A decrease is a counter reset (re-prime, nothing returned) unless it is
 *   a wrap. Wrap rule: the counter's width W is the smaller of 32 and 64 bits
 *   that holds the previous value (prev < 2^W); the decrease is a wrap when
 *   v ≥ 0 and the wrapped delta 2^W − prev + v is at most 2^W / 16 (so prev
 *   was in the top sixteenth of the range and v is near zero). Then the
 *   delta is that wrapped delta. Anything else is a reset, so a rate is
 *   never negative and a reset never shows up as a huge spike. (Near 2^64 a
 *   double's step is 2048-4096, so 64-bit wrapped deltas are that coarse.)
 * - A gap ≤ 0 between readings (the clock went back, or two readings in one
 *   millisecond) re-primes: no rate can be measured over it.
 * - A key not seen for `forgetAfterRounds` rounds is dropped, so series that
 *   come and go (processes, mounts, interfaces) do not grow memory forever.
 */
import type { DataType } from '../protocol/wire/index.js';

export const DEFAULT_FORGET_AFTER_ROUNDS = 5;

/** A decrease counts as a wrap only if the wrapped delta is at most this fraction of the range. */
const WRAP_FRACTION = 1 / 16;
const RANGE_32 = 2 ** 32;
const RANGE_64 = 2 ** 64;

interface Previous {
  type: DataType;
  value: number;
  atMs: number;
  /** The round it was last seen in. */
  round: number;
}

/** The delta across a wrap from `prev` to `value`, or undefined when the decrease is a reset (rule above). */
export function wrappedDelta(prev: number, value: number): number | undefined {
  if (!(value >= 0) || !(value < prev)) return undefined;
  const range = prev < RANGE_32 ? RANGE_32 : prev < RANGE_64 ? RANGE_64 : undefined;
  if (range === undefined) return undefined;
  const delta = range - prev + value;
  return delta <= range * WRAP_FRACTION ? delta : undefined;
}

export interface RateTrackerOptions {
  /** Drop a key after this many rounds (`endRound()` calls) without a reading; default 5. */
  forgetAfterRounds?: number;
}

export class RateTracker {
  private readonly previous = new Map<string, Previous>();
  private readonly forgetAfter: number;
  private round = 0;

  constructor(options: RateTrackerOptions = {}) {
    this.forgetAfter = Math.max(1, options.forgetAfterRounds ?? DEFAULT_FORGET_AFTER_ROUNDS);
  }

  /** Keys with state (COUNTER/DERIVE keys seen recently). */
  get size(): number {
    return this.previous.size;
  }

  /**
   * One reading of `key` taken at `atMs` (ms since the epoch): the value to
   * send, or undefined when there is none yet (primed, reset, bad gap).
   */
  update(key: string, type: DataType, value: number, atMs: number): number | undefined {
    if (!Number.isFinite(value) || !Number.isFinite(atMs)) return undefined;
    if (type === 'GAUGE') {
      // No state for gauges; drop any left from when the key was a counter.
      if (this.previous.size > 0) this.previous.delete(key);
      return value;
    }
    const prev = this.previous.get(key);
    this.previous.set(key, { type, value, atMs, round: this.round });
    // A key whose type changed starts over: its old readings mean something else.
    if (prev === undefined || prev.type !== type) return undefined;
    const gapMs = atMs - prev.atMs;
    if (gapMs <= 0) return undefined;
    const delta = value >= prev.value ? value - prev.value : wrappedDelta(prev.value, value);
    if (delta === undefined) return undefined;
    return type === 'COUNTER' ? delta / (gapMs / 1000) : delta;
  }

  /** Close a round (one run of a plugin or collector): forget keys unseen for `forgetAfterRounds` rounds. */
  endRound(): void {
    this.round++;
    for (const [key, prev] of this.previous) {
      if (this.round - prev.round > this.forgetAfter) this.previous.delete(key);
    }
  }

  clear(): void {
    this.previous.clear();
  }
}

/** The tracker key of a series: its metric and tags (sorted, so their order does not matter). */
export function seriesKey(metric: string, tags?: Record<string, string>): string {
  if (tags === undefined) return metric;
  const keys = Object.keys(tags);
  if (keys.length === 0) return metric;
  keys.sort();
  let out = metric;
  for (const k of keys) out += `\u0000${k}=${tags[k]}`;
  return out;
}

/** A built-in collector's reading (agent/collectors/collector.ts `Reading`): counters are raw totals. */
export interface RawReading {
  metric: string;
  value: number;
  kind: 'gauge' | 'counter';
  tags?: Record<string, string>;
}

/**
 * One round of a collector's readings taken at `atMs`: gauges as read,
 * counters as per-second rates over the measured gap; readings with no rate
 * yet (first, reset, bad gap) are left out. Ends the tracker's round.
 */
export function ratesFromReadings<R extends RawReading>(
  tracker: RateTracker,
  readings: readonly R[],
  atMs: number,
): R[] {
  const out: R[] = [];
  for (const r of readings) {
    const type: DataType = r.kind === 'counter' ? 'COUNTER' : 'GAUGE';
    const value = tracker.update(seriesKey(r.metric, r.tags), type, r.value, atMs);
    if (value !== undefined) out.push(value === r.value ? r : { ...r, value });
  }
  tracker.endRound();
  return out;
}
