/**
 * The store's one line of work: queued writes, taken as groups (group
 * commit), and exclusive jobs (checkpoint chunks, retention slices), run one
 * at a time by a single pump. Writes and jobs alternate when both wait, so
 * neither starves the other; while a checkpoint folds one full set of pending
 * points and a second set is full too, writes wait for it (backpressure), so
 * memory stays bounded (rocks-store.ts).
 */
import { closedError } from './errors.js';
import type { StoreState } from './store-state.js';
import type { WriteTask } from './write-task.js';

interface PipelineHooks {
  /** Commit one group, settling each of its writes. */
  commit(group: WriteTask[]): Promise<void>;
  /** Run after each group (a checkpoint may be due). */
  afterCommit(): void;
  /** The running checkpoint when pending points are at their bound, else undefined: writes wait for it. */
  overloadedBy(): Promise<void> | undefined;
}

interface JobTask {
  run: () => Promise<void>;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class WritePipeline {
  private readonly writes: WriteTask[] = [];
  private readonly jobs: JobTask[] = [];
  private pumping = false;
  private lastWasWrite = false;
  private idleWaiters: Array<() => void> = [];
  private jobWaiter: (() => void) | undefined;

  constructor(
    private readonly s: StoreState,
    private readonly maxGroupPoints: number,
    private readonly hooks: PipelineHooks,
  ) {}

  /** Queue a checked write for the next group commit. */
  enqueue(task: WriteTask): void {
    this.writes.push(task);
    this.pump();
  }

  /** Run `fn` inside the write pipeline: no write group or other job runs meanwhile. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.s.lifecycle === 'closed') return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ run: () => fn().then(resolve, reject) });
      this.jobWaiter?.();
      this.pump();
    });
  }

  /** Resolves once nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (!this.pumping && this.writes.length === 0 && this.jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.runPump();
  }

  private async runPump(): Promise<void> {
    try {
      for (;;) {
        // One turn of the event loop lets callers whose writes just resolved
        // (and sockets with data) queue more, so the next group is full.
        await nextTurn();
        if (this.writes.length === 0 && this.jobs.length === 0) break;
        const running = this.hooks.overloadedBy();
        const overloaded = running !== undefined;
        if (overloaded && this.jobs.length === 0) {
          // A job (a checkpoint chunk) arriving meanwhile ends the wait: it is what frees memory.
          await new Promise<void>((resolve) => {
            this.jobWaiter = resolve;
            running.then(resolve, resolve);
          });
          this.jobWaiter = undefined;
          continue;
        }
        const job =
          this.jobs.length > 0 && (this.writes.length === 0 || this.lastWasWrite || overloaded)
            ? this.jobs.shift()
            : undefined;
        if (job !== undefined) {
          this.lastWasWrite = false;
          await job.run();
          continue;
        }
        this.lastWasWrite = true;
        await this.hooks.commit(this.takeGroup());
        this.hooks.afterCommit();
      }
    } finally {
      this.pumping = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** The writes of the next group: whole writes, up to maxGroupPoints (at least one). */
  private takeGroup(): WriteTask[] {
    const group: WriteTask[] = [];
    let n = 0;
    while (this.writes.length > 0) {
      const next = this.writes[0] as WriteTask;
      if (group.length > 0 && n + next.points.length > this.maxGroupPoints) break;
      group.push(next);
      n += next.points.length;
      this.writes.shift();
    }
    return group;
  }
}
