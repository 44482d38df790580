/**
 * What the spool's and the store's worker threads share (RocksDB's synced
 * writes block the calling thread, so both run it in a worker): starting the
 * worker module from source or from the build, and the table of calls that
 * wait for the worker's answer, which keeps the process alive only while a
 * call is in flight.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Start the worker module `name` (no extension) that sits next to the module
 * at `moduleUrl` (the caller's import.meta.url). Run from source (under tsx)
 * that module is a .ts file, and Node 20 does not apply loaders given with
 * --import to worker threads, so the worker first registers tsx itself.
 * `resourceLimits` sizes the worker's V8 heap (absent: V8's defaults).
 */
export function startModuleWorker(
  moduleUrl: string,
  name: string,
  workerData: unknown,
  resourceLimits?: ResourceLimits,
): Worker {
  const limits = resourceLimits === undefined ? {} : { resourceLimits };
  if (!moduleUrl.endsWith('.ts')) {
    return new Worker(new URL(`./${name}.js`, moduleUrl), { workerData, ...limits });
  }
  const entry = JSON.stringify(new URL(`./${name}.ts`, moduleUrl).href);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then((api) => { api.register(); return import(${entry}); });`;
  return new Worker(code, { eval: true, workerData, ...limits });
}

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
