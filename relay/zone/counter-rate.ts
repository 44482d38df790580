/**
 * Per-second rates from SNMP counters, pure. A rate is the counter's delta
 * over the time measured between the two responses that carried it (v3
 * divided by the configured interval, which is wrong whenever a poll is late
 * or a response slow). Counter32 wraps once at 2^32 between polls; Counter64
 * does not wrap in practice, so a Counter64 going back is a reset. A device
 * restart (sysUpTime going back) re-primes: no spike, no sample.
 */

/** One counter as read in one response. */
export interface CounterReading {
  value: bigint;
  bits: 32 | 64;
  /** When the response arrived (local clock, ms). */
  atMs: number;
  /** The device's sysUpTime in hundredths of a second, from the same response. */
  uptime: number;
}

export type RateResult =
  | { kind: 'rate'; perSecond: number; wrapped: boolean }
  /** Nothing to compare with yet: the first poll primes. */
  | { kind: 'prime' }
  /** The device restarted or the counter was reset: this reading primes again. */
  | { kind: 'reset' };

const WRAP32 = 2n ** 32n;
/** sysUpTime is a TimeTicks (32 bits): it wraps after 497 days; a jump back this large is that wrap, not a restart. */
const UPTIME_WRAP_SLACK = 2 ** 31;

/** The rate between `prev` and `cur` of one counter, or why there is none. */
export function counterRate(prev: CounterReading | undefined, cur: CounterReading): RateResult {
  if (prev === undefined || prev.bits !== cur.bits) return { kind: 'prime' };
  if (restarted(prev.uptime, cur.uptime)) return { kind: 'reset' };
  const elapsedMs = cur.atMs - prev.atMs;
  if (elapsedMs <= 0) return { kind: 'prime' };
  let delta = cur.value - prev.value;
  let wrapped = false;
  if (delta < 0n) {
    if (cur.bits === 64) return { kind: 'reset' };
    delta += WRAP32;
    wrapped = true;
  }
  return { kind: 'rate', perSecond: (Number(delta) * 1000) / elapsedMs, wrapped };
}

/** sysUpTime went back (and not by its own 32-bit wrap): the agent restarted. */
export function restarted(prevUptime: number, curUptime: number): boolean {
  return curUptime < prevUptime && prevUptime - curUptime < UPTIME_WRAP_SLACK;
}
