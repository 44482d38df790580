/**
 * Injected time: the clock and timers that time-based code takes, so tests
 * drive it without sleeping (test/helpers/fake-timers.ts advances them by
 * hand). Production code gets SYSTEM_TIMERS: Date.now and Node's timers,
 * unref'd, so a pending timer never keeps a process alive on its own.
 */

/** A scheduled call: `refresh()` restarts its delay from now. */
export interface TimerHandle {
  refresh(): unknown;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

export const SYSTEM_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
};
