/**
 * The table of calls that wait for a worker's answer, which keeps the process
 * alive only while a call is in flight.
 */
import type { Worker } from 'node:worker_threads';

export interface PendingCall<Op> {
  op: Op;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Calls sent to `worker` and not yet answered, by id. */
export class PendingCalls<Op> {
  private readonly calls = new Map<number, PendingCall<Op>>();
  private idleWaiters: Array<() => void> = [];
  private nextId = 1;

  constructor(private readonly worker: Worker) {}

  get size(): number {
    return this.calls.size;
  }

  /** A fresh call id. */
  newId(): number {
    return this.nextId++;
  }

  /** Wait for the answer to call `id`. While any call waits, the worker keeps the process alive. */
  wait<T>(id: number, op: Op): Promise<T> {
    if (this.calls.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { op, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Take call `id` out of the table to settle it (undefined when it is no longer there). */
  take(id: number): PendingCall<Op> | undefined {
    const p = this.calls.get(id);
    if (!p) return undefined;
    this.calls.delete(id);
    if (this.calls.size === 0) {
      this.worker.unref();
      this.releaseIdle();
    }
    return p;
  }

  /** Resolves once no call waits. */
  whenIdle(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Reject every waiting call with `err`. */
  rejectAll(err: unknown): void {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const p of calls) p.reject(err);
    this.releaseIdle();
  }

  private releaseIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
