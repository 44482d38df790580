/**
 * Progress of a backlog drain: the records spooled before a (re)connect,
 * replayed to the upstream while live data goes on. While it lasts, a line
 * every `progressMs` (records and bytes done, records left, rate, estimated
 * time left); one line when the last of it is acknowledged. The size comes
 * from the connect (records below live; the spool's bytes then); what is
 * done from the acknowledged replay batches. A drain that a disconnect cuts
 * short ends silently: the outage log takes over, and the next connect
 * starts a new drain of what is left.
 */
import type { TimerHandle, Timers } from '../protocol/index.js';

/** The subset of a pino logger used. */
export interface DrainLogger {
  info(obj: object, msg: string): void;
}

export interface DrainProgressOptions {
  log: DrainLogger;
  timers: Timers;
  /** Period of the progress line (default 10 s). */
  progressMs?: number;
}

export const DEFAULT_DRAIN_PROGRESS_MS = 10_000;

interface Drain {
  since: number;
  records: number;
  bytes: number;
  doneRecords: number;
  doneBytes: number;
  timer: TimerHandle;
}

export class DrainProgress {
  private drain: Drain | undefined;

  constructor(private readonly options: DrainProgressOptions) {}

  get draining(): boolean {
    return this.drain !== undefined;
  }

  /** A connect found `records` (`bytes`) of backlog: its drain begins. */
  start(records: number, bytes: number): void {
    this.stop();
    if (records <= 0) return;
    const { timers } = this.options;
    this.drain = {
      since: timers.now(),
      records,
      bytes,
      doneRecords: 0,
      doneBytes: 0,
      timer: timers.setInterval(() => this.progress(), this.options.progressMs ?? DEFAULT_DRAIN_PROGRESS_MS),
    };
  }

  /** A replay batch of `records` (`bytes` of payload) was acknowledged. */
  acked(records: number, bytes: number): void {
    if (this.drain === undefined) return;
    this.drain.doneRecords += records;
    this.drain.doneBytes += bytes;
  }

  /** Every backlog record was acknowledged (or dropped by the spool's cap meanwhile). */
  done(): void {
    const drain = this.drain;
    if (drain === undefined) return;
    this.stop();
    const drainMs = this.options.timers.now() - drain.since;
    this.options.log.info(
      {
        drainedRecords: drain.doneRecords,
        drainedBytes: drain.doneBytes,
        drainMs,
        ...rates(drain, drainMs),
      },
      'backlog drained',
    );
  }

  /** The connection is gone (or the relay stops): no more lines for this drain. */
  stop(): void {
    if (this.drain !== undefined) this.options.timers.clearInterval(this.drain.timer);
    this.drain = undefined;
  }

  private progress(): void {
    const drain = this.drain;
    if (drain === undefined) return;
    const elapsedMs = this.options.timers.now() - drain.since;
    const r = rates(drain, elapsedMs);
    const leftRecords = Math.max(0, drain.records - drain.doneRecords);
    this.options.log.info(
      {
        drainedRecords: drain.doneRecords,
        drainedBytes: drain.doneBytes,
        leftRecords,
        backlogRecords: drain.records,
        backlogBytes: drain.bytes,
        elapsedMs,
        ...r,
        // At the average rate so far; null until something was acknowledged.
        etaMs:
          drain.doneRecords > 0
            ? Math.round((leftRecords * Math.max(elapsedMs, 1)) / drain.doneRecords)
            : null,
      },
      'backlog draining',
    );
  }
}

function rates(drain: Drain, elapsedMs: number): { recordsPerSec: number; bytesPerSec: number } {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return {
    recordsPerSec: Math.round(drain.doneRecords / seconds),
    bytesPerSec: Math.round(drain.doneBytes / seconds),
  };
}
