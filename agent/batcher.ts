/**
 * Samples from plugins and collectors become batches: a batch is cut
 * `lingerMs` after its first sample (plugins due on the same boundary end
 * within a few ms of each other, so a round is one batch and one fdatasync)
 * or at `maxSamples`. Each cut batch is made durable in the buffer before
 * the sender sees it. If the disk refuses (full, read-only), the samples
 * stay here and the append is retried; past `maxPending` the oldest are
 * dropped and counted, so memory stays bounded.
 */
import type { BatchSample, TimerHandle, Timers } from '../protocol/wire/index.js';
import type { BatchLog } from './buffer/batch-log.js';
import type { AgentLogger } from './log.js';

export interface BatcherOptions {
  log: BatchLog;
  timers: Timers;
  logger: AgentLogger;
  maxSamples: number;
  lingerMs: number;
  /** A batch is durable: tell the sender. */
  appended(): void;
  /** Samples held while the disk refuses; default 100 batches' worth. */
  maxPending?: number;
}

const RETRY_MS = 1000;

export class Batcher {
  private pending: BatchSample[] = [];
  private timer: TimerHandle | undefined;
  private flushing: Promise<void> | undefined;
  private failing = false;
  dropped = 0;

  constructor(private readonly o: BatcherOptions) {}

  /** Samples not yet in the buffer. */
  get held(): number {
    return this.pending.length;
  }

  add(samples: BatchSample[]): void {
    if (samples.length === 0) return;
    for (const s of samples) this.pending.push(s);
    const max = this.o.maxPending ?? this.o.maxSamples * 100;
    if (this.pending.length > max) {
      const drop = this.pending.length - max;
      this.pending.splice(0, drop);
      this.dropped += drop;
    }
    if (this.pending.length >= this.o.maxSamples) void this.flush();
    else if (!this.timer) this.timer = this.o.timers.setTimeout(() => void this.flush(), this.o.lingerMs);
  }

  /** Cut and store everything held now; resolves when it is durable (or the disk refused it). */
  async flush(): Promise<void> {
    this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    this.flushing = this.store();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private async store(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.slice(0, this.o.maxSamples);
      try {
        await this.o.log.append(batch);
      } catch (err) {
        if (!this.failing)
          this.o.logger.error({ err: (err as Error).message }, 'buffer refused a batch: holding samples');
        this.failing = true;
        this.timer ??= this.o.timers.setTimeout(() => void this.flush(), RETRY_MS);
        return;
      }
      if (this.failing) this.o.logger.info({}, 'buffer accepts batches again');
      this.failing = false;
      this.pending.splice(0, batch.length);
      this.o.appended();
    }
  }
}
