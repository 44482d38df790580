/**
 * When and how pending points are folded into blocks (rocks-store.ts). A
 * checkpoint starts once `maxPendingPoints` are pending or the oldest pending
 * point is `maxPendingAgeMs` old (on the injected timers), and on flush. It
 * freezes the pending set (new writes start a fresh one), folds it chunk by
 * chunk as exclusive jobs of the write pipeline (writes run between chunks),
 * then deletes the set's log records. Neither batch is synced: WAL order means
 * a lost checkpoint batch leaves its log records in place, replayed at open.
 */
import { ioError, closedError } from './errors.js';
import { closeQuietly } from './db.js';
import { foldChunk, planFold } from './fold.js';
import { K_FOLDED_BELOW, encodeU64, logKey } from './keys.js';
import { PendingSet } from './pending.js';
import type { StoreLimits, StoreTimers } from './options.js';
import type { StoreState } from './store-state.js';

interface CheckpointDeps {
  limits: Pick<StoreLimits, 'maxPendingPoints' | 'maxPendingAgeMs' | 'checkpointChunkBlocks'>;
  now: () => number;
  timers: StoreTimers;
  /** Failures of checkpoints nobody awaits (timer- or threshold-started). */
  onError: (err: unknown) => void;
  /** Run a job in the write pipeline, alone. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

export class Checkpointer {
  private pendingSinceMs: number | undefined;
  private ageTimer: unknown;
  private run: Promise<void> | undefined;

  constructor(
    private readonly s: StoreState,
    private readonly deps: CheckpointDeps,
  ) {}

  /** The running checkpoint when pending points are at their bound, else undefined: writes wait for it. */
  overloadedBy(): Promise<void> | undefined {
    return this.s.pending.points >= this.deps.limits.maxPendingPoints ? this.run : undefined;
  }

  /** Points joined the pending set: start the age clock if it is not running. */
  notePending(): void {
    if (this.pendingSinceMs !== undefined) return;
    this.pendingSinceMs = this.deps.now();
    this.ageTimer = this.deps.timers.setTimeout(() => {
      this.ageTimer = undefined;
      this.background();
    }, this.deps.limits.maxPendingAgeMs);
  }

  /** Start a checkpoint in the background if one is due and none runs. */
  maybeCheckpoint(): void {
    const { pending } = this.s;
    if (this.run !== undefined || pending.points === 0) return;
    const old =
      this.pendingSinceMs !== undefined &&
      this.deps.now() - this.pendingSinceMs >= this.deps.limits.maxPendingAgeMs;
    if (pending.points >= this.deps.limits.maxPendingPoints || old) this.background();
  }

  /** Fold every point acknowledged before this call into blocks. */
  async flush(): Promise<void> {
    if (this.s.lifecycle === 'closed') throw closedError();
    if (this.run !== undefined) await this.run.catch(() => {});
    await this.start();
  }

  /** Stop the age timer (at close). */
  stopTimer(): void {
    if (this.ageTimer !== undefined) this.deps.timers.clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
  }

  private background(): void {
    if (this.s.lifecycle === 'closed') return;
    this.start().catch((err: unknown) => this.deps.onError(err));
  }

  private start(): Promise<void> {
    if (this.run !== undefined) return this.run;
    const run = this.runCheckpoint().then(
      () => {
        this.run = undefined;
        // Points that arrived during a long checkpoint may already be due.
        if (this.s.lifecycle === 'open') this.maybeCheckpoint();
      },
      (err: unknown) => {
        // No immediate retry: the frozen set is folded again by the next checkpoint.
        this.run = undefined;
        throw err;
      },
    );
    this.run = run;
    return run;
  }

  private async runCheckpoint(): Promise<void> {
    const s = this.s;
    // A set left frozen by a failed checkpoint goes first: folding is idempotent.
    if (s.frozen !== undefined) await this.foldFrozen(s.frozen);
    if (s.pending.points === 0) return;
    const frozen = s.pending;
    s.frozen = frozen;
    s.pending = new PendingSet();
    this.pendingSinceMs = undefined;
    this.stopTimer();
    await this.foldFrozen(frozen);
  }

  /** Fold one frozen set in chunks (writes may run between them), then delete its log records. */
  private async foldFrozen(frozen: PendingSet): Promise<void> {
    const s = this.s;
    const { exclusive } = this.deps;
    const units = planFold(frozen, s.bucketMs);
    const chunk = this.deps.limits.checkpointChunkBlocks;
    let failed: unknown;
    const steps: Array<Promise<void>> = [];
    for (let i = 0; i < units.length; i += chunk) {
      const slice = units.slice(i, i + chunk);
      steps.push(
        exclusive(async () => {
          if (failed === undefined) await foldChunk(s, slice);
        }).catch((err: unknown) => {
          failed ??= err;
        }),
      );
    }
    await Promise.all(steps);
    if (failed !== undefined) throw ioError(failed);
    await exclusive(async () => {
      const batch = s.db.batch();
      // Records a sink has not passed stay (forward-log.ts); the marker says they are folded.
      const minCursor = s.fw?.minCursor ?? Infinity;
      const kept: number[] = [];
      let foldedBelow = s.foldedBelow;
      try {
        for (const seq of frozen.seqs) {
          if (seq <= minCursor) batch.del(logKey(seq));
          else kept.push(seq);
          foldedBelow = Math.max(foldedBelow, seq + 1);
        }
        batch.put(K_FOLDED_BELOW, encodeU64(foldedBelow));
        await batch.write({ sync: false });
      } finally {
        await closeQuietly(batch);
      }
      s.foldedBelow = foldedBelow;
      for (const seq of kept) s.fw?.index.markFolded(seq);
    }).catch((err: unknown) => {
      throw ioError(err);
    });
    s.frozen = undefined;
    // Only now, once: a set whose checkpoint failed part-way is folded again (idempotent for points).
    s.foldedSamples += frozen.samples;
  }
}
