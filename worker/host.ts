/**
 * WorkerHost: the main-thread side of a service run in a worker thread
 * (port.ts is the worker's side). It starts the worker, waits for its open
 * handshake, numbers the calls and posts those of one event-loop turn in one
 * message, so they reach the worker together (and join one group commit
 * there, as they would on this thread), then settles them from the answers.
 *
 * Failure. If the worker dies (uncaught error, exit, terminate, a message
 * that does not arrive), every pending and later call rejects with the
 * service's failure error; stopping the worker on close or after a failed
 * open is no failure.
 */
import type { ResourceLimits, Worker } from 'node:worker_threads';
import type { WireError } from '../protocol/index.js';
import { PendingCalls, type PendingCall } from './pending-calls.js';
import { startModuleWorker } from './start.js';
import type { Handshake, Outgoing } from './wire.js';

export interface WorkerHostOptions<Opened extends object, Event> {
  /** The caller's import.meta.url, and the worker module's name next to it (see startModuleWorker). */
  moduleUrl: string;
  module: string;
  workerData: unknown;
  resourceLimits?: ResourceLimits;
  /** Names the worker in failure messages ('spool worker'). */
  label: string;
  /** The error pending and later calls reject with once the worker failed (`message` names the cause). */
  failure(message: string, cause: unknown): Error;
  /** The error calls reject with once close() began. */
  closed(): Error;
  /** A worker's error as this side's class. */
  rebuildError(w: WireError): Error;
  /** This turn's calls as one message, taken (the next turn starts empty); undefined when none. */
  takeCalls(): Outgoing | undefined;
  /** This turn's message did not post (it does not clone). Default: the worker failed. */
  unposted?(out: Outgoing, err: unknown): void;
  /** The worker opened its service; runs before the open resolves. */
  opened(m: Opened): void;
  /** Any other message of the worker: answers, events. */
  message(m: Event): void;
  /** The worker failed after it opened (before, the open rejects instead). */
  failed(failure: Error, cause: unknown): void;
}

export class WorkerHost<Op, Opened extends object, Event> {
  /** Settles once the worker opened its service (or failed to). */
  readonly opened: Promise<void>;
  private readonly worker: Worker;
  private readonly pending: PendingCalls<Op>;
  private flushQueued = false;
  private closing: Promise<void> | undefined;
  private failure: Error | undefined;
  /** Set when this side stops the worker on purpose: its exit is then no failure. */
  private terminating = false;
  private openSettle: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  constructor(private readonly o: WorkerHostOptions<Opened, Event>) {
    this.opened = new Promise<void>((resolve, reject) => (this.openSettle = { resolve, reject }));
    this.worker = startModuleWorker(o.moduleUrl, o.module, o.workerData, o.resourceLimits);
    this.pending = new PendingCalls(this.worker);
    this.worker.on('message', (m: Handshake<Opened> | Event) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('messageerror', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (!this.terminating) this.fail(new Error(`${o.label} exited with code ${code}`));
    });
  }

  /** Why a call would be refused now (closing, or the worker failed), else undefined. */
  refusal(): Error | undefined {
    return this.closing ? this.o.closed() : this.failure;
  }

  /** Make a call: `encode` adds it, with the id given, to this turn's message. */
  call<T>(op: Op, encode: (id: number) => void): Promise<T> {
    if (this.closing) return Promise.reject(this.o.closed());
    return this.send<T>(op, encode);
  }

  /** The waiting call `id`, taken out to be settled (undefined when it no longer waits). */
  take(id: number): PendingCall<Op> | undefined {
    return this.pending.take(id);
  }

  /** Post a message now (for `unposted`, which may send the calls one by one); throws if it does not clone. */
  post(out: Outgoing): void {
    this.worker.postMessage(out.message, out.transfer);
  }

  /**
   * Wait for every pending call, send the close call `op` (unless the worker
   * failed), then stop the worker. Idempotent. Later calls reject with
   * `closed()`. Rejects with the close call's error, if any.
   */
  close(op: Op, encode: (id: number) => void): Promise<void> {
    this.closing ??= this.runClose(op, encode);
    return this.closing;
  }

  /** @internal Test hook: stop the worker thread abruptly, as a crash would. */
  kill(): Promise<number> {
    return this.worker.terminate();
  }

  private send<T>(op: Op, encode: (id: number) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.pending.newId();
    encode(id);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // As a group commit is scheduled: every call of this turn goes in one message.
      setImmediate(() => this.flush());
    }
    // A call in flight keeps the process alive, an idle worker does not.
    return this.pending.wait<T>(id, op);
  }

  private flush(): void {
    this.flushQueued = false;
    const out = this.o.takeCalls();
    if (out === undefined || this.failure) return; // a failure already rejected these calls
    try {
      this.post(out);
    } catch (err) {
      if (this.o.unposted) this.o.unposted(out, err);
      else this.fail(err);
    }
  }

  private async runClose(op: Op, encode: (id: number) => void): Promise<void> {
    let error: unknown;
    try {
      await this.pending.whenIdle();
      if (!this.failure) {
        await this.send<void>(op, encode).catch((err: unknown) => {
          if (err !== this.failure) error = err; // a dead worker has nothing left to close
        });
      }
    } finally {
      this.terminating = true;
      await this.worker.terminate();
      this.pending.rejectAll(this.o.closed());
    }
    if (error !== undefined) throw error;
  }

  private onMessage(m: Handshake<Opened> | Event): void {
    const t = (m as { t?: unknown }).t;
    if (t === 'opened') {
      this.worker.unref();
      this.o.opened(m as Opened);
      this.openSettle?.resolve();
      this.openSettle = undefined;
    } else if (t === 'open-failed') {
      // Calls made meanwhile (none through the services' open()) reject with the open's error.
      this.failure ??= this.o.rebuildError((m as { error: WireError }).error);
      this.terminating = true;
      void this.worker.terminate();
      this.openSettle?.reject(this.failure);
      this.openSettle = undefined;
      this.pending.rejectAll(this.failure);
    } else {
      this.o.message(m as Event);
    }
  }

  private fail(cause: unknown): void {
    if (this.failure) return;
    const message = cause instanceof Error ? cause.message : String(cause);
    const failure = this.o.failure(`${this.o.label} failed: ${message}`, cause);
    this.failure = failure;
    if (this.openSettle) {
      this.openSettle.reject(failure);
      this.openSettle = undefined;
    } else {
      this.o.failed(failure, cause);
    }
    this.pending.rejectAll(failure);
    this.terminating = true;
    void this.worker.terminate();
  }
}
