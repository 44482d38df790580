/**
 * Timers (protocol/timers.ts) on a hand-driven clock: nothing fires until
 * `advance(ms)`, which runs every due timer in time order, each at its own
 * moment. For time-based code tested without sleeping.
 */
import type { TimerHandle, Timers } from '../../protocol/index.js';

interface Scheduled extends TimerHandle {
  fn: () => void;
  ms: number;
  due: number;
  repeat: boolean;
  seq: number;
}

export class FakeTimers implements Timers {
  private clock: number;
  private seq = 0;
  private readonly scheduled = new Set<Scheduled>();

  constructor(start = 1_700_000_000_000) {
    this.clock = start;
  }

  now(): number {
    return this.clock;
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.scheduled.size;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, false);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, true);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.scheduled.delete(handle as Scheduled);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Move the clock forward by `ms`, firing what falls due on the way (bounded: 100,000 firings). */
  advance(ms: number): void {
    const end = this.clock + ms;
    for (let fired = 0; fired < 100_000; fired++) {
      let next: Scheduled | undefined;
      for (const s of this.scheduled) {
        if (
          s.due <= end &&
          (next === undefined || s.due < next.due || (s.due === next.due && s.seq < next.seq))
        )
          next = s;
      }
      if (next === undefined) break;
      this.clock = next.due;
      if (next.repeat) next.due += Math.max(1, next.ms);
      else this.scheduled.delete(next);
      next.fn();
    }
    this.clock = end;
  }

  private add(fn: () => void, ms: number, repeat: boolean): Scheduled {
    const s: Scheduled = {
      fn,
      ms,
      repeat,
      due: this.clock + Math.max(repeat ? 1 : 0, ms),
      seq: this.seq++,
      refresh: () => {
        s.due = this.clock + ms;
        this.scheduled.add(s);
        return s;
      },
    };
    this.scheduled.add(s);
    return s;
  }
}
