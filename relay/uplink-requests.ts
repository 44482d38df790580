/**
 * The uplink's config requests in flight (HOSTCONFIG_REQ, VERSION_REQ): each
 * gets an id unique on the relay, waits for its answer at most `timeoutMs`,
 * and is rejected with a retriable OWL_ERR_UPSTREAM_UNAVAILABLE when it times
 * out, the upstream refuses it (CONFIG_ERROR) or the connection drops. The
 * relay then keeps answering agents from its cache.
 */
import type { TimerHandle, Timers, UplinkMessage } from '../protocol/index.js';
import { RelayError, RelayErrorCode } from './errors.js';

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
  /** The host a HOSTCONFIG_REQ asked about. */
  uuid: string | undefined;
}

export class UplinkRequests {
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();

  constructor(
    private readonly timeoutMs: number,
    private readonly timers: Timers,
  ) {}

  /** Send `make(id)` with a fresh id; resolves with its answer. `uuid`: the host it asks about. */
  open(
    send: (msg: UplinkMessage) => void,
    make: (id: number) => UplinkMessage,
    uuid?: string,
  ): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(id);
        reject(unavailable('upstream did not answer in time'));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, uuid });
      send(make(id));
    });
  }

  /** The answer to request `id` (ignored when it timed out or is unknown). */
  settle(id: number, value: unknown): void {
    const p = this.take(id);
    p?.resolve(value);
  }

  /**
   * CONFIG_ERROR for request `id`: rejected with the upstream's code in the
   * message. Returns the request (its `uuid`), or undefined when unknown.
   */
  refuse(id: number, code: string, message: string): { uuid: string | undefined } | undefined {
    const p = this.take(id);
    if (p === undefined) return undefined;
    p.reject(new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, `${code}: ${message}`));
    return { uuid: p.uuid };
  }

  /** Reject every request in flight (the connection dropped, or the relay stops). */
  failAll(why: string): void {
    for (const id of [...this.pending.keys()]) this.take(id)?.reject(unavailable(why));
  }

  private take(id: number): PendingRequest | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    this.timers.clearTimeout(p.timer);
    return p;
  }
}

function unavailable(why: string): RelayError {
  return new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, why, { retriable: true });
}
