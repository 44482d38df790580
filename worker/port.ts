/**
 * HostPort: the worker-thread side of a WorkerHost (host.ts). It opens the
 * service, tells the host (the open handshake), then runs the calls of each
 * message in arrival order; answers settled together (a group commit settles
 * all its calls at once) leave in one message, once those settlements ran.
 */
import { parentPort, workerData, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { toWireError, type WireError } from '../protocol/index.js';
import type { Outgoing } from './wire.js';

/** How one call ended. */
export type Settled<Call> = { call: Call; value: unknown } | { call: Call; error: WireError };

/** What a worker serves. */
export interface PortService<Call> {
  /** The calls one message carries, in call order. */
  decode(data: unknown): Iterable<Call>;
  /** Carry out one call. */
  run(call: Call): Promise<unknown>;
  /** One message for answers settled together. */
  answers(settled: Array<Settled<Call>>): Outgoing;
  /** Whether `call` holds views into its message (an ArrayBuffer), freed once every such call settled. */
  viewsMessage?(call: Call): boolean;
}

export class HostPort<Init> {
  /** The workerData the host started this thread with. */
  readonly init: Init;
  private readonly port: MessagePort;

  /** `label` names the worker module in the error thrown when it is not run as a worker thread. */
  constructor(label: string) {
    if (!parentPort) throw new Error(`${label} runs only as a worker thread`);
    this.port = parentPort;
    this.init = workerData as Init;
  }

  /** Send a message to the host (events; calls' answers go through the service). */
  post(message: unknown, transfer: TransferListItem[] = []): void {
    this.port.postMessage(message, transfer);
  }

  /**
   * Open the service, post 'opened' with the fields `start` gives, then serve
   * the host's calls. An open that fails is posted and the thread ends.
   */
  async serve<S, Call>(
    open: () => Promise<S>,
    start: (service: S) => { opened: object; service: PortService<Call> },
  ): Promise<void> {
    let s: S;
    try {
      s = await open();
    } catch (err) {
      this.post({ t: 'open-failed', error: toWireError(err) });
      this.port.close(); // nothing else keeps the thread alive: it ends
      return;
    }
    const { opened, service } = start(s);
    this.post({ t: 'opened', ...opened });
    const calls = new Calls(this, service);
    this.port.on('message', (data: unknown) => calls.receive(data));
  }
}

/** The calls being served, and the answers of this turn. */
class Calls<Call> {
  private settled: Array<Settled<Call>> = [];
  private flushQueued = false;

  constructor(
    private readonly port: HostPort<unknown>,
    private readonly service: PortService<Call>,
  ) {}

  receive(data: unknown): void {
    const holders: Array<Promise<void>> = [];
    for (const call of this.service.decode(data)) {
      const done = this.run(call);
      if (this.service.viewsMessage?.(call)) holders.push(done);
    }
    // The message is this thread's own (transferred), and once those calls settled no view into
    // it is left: free it now rather than when V8 next collects, which a worker's few small
    // objects make rare (the spool's held tens of MiB of these).
    if (holders.length > 0 && data instanceof ArrayBuffer)
      void Promise.allSettled(holders).then(() => free(data));
  }

  /** Carry out one call; its answer joins this turn's. Settles once it is answered. */
  private run(call: Call): Promise<void> {
    let p: Promise<unknown>;
    try {
      p = this.service.run(call);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (value) => this.answer({ call, value }),
      (err: unknown) => this.answer({ call, error: toWireError(err) }),
    );
  }

  private answer(s: Settled<Call>): void {
    this.settled.push(s);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // After the other settlements of this turn.
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    const settled = this.settled;
    this.settled = [];
    const out = this.service.answers(settled);
    try {
      this.port.post(out.message, out.transfer);
    } catch (err) {
      // A result that does not clone (none should): fail those calls, not the worker.
      const error = toWireError(err);
      const failed = this.service.answers(settled.map(({ call }) => ({ call, error })));
      this.port.post(failed.message, failed.transfer);
    }
  }
}

/** Detach `buffer` (ES2024 ArrayBuffer.prototype.transfer), which frees its memory at once. */
function free(buffer: ArrayBuffer): void {
  (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}
