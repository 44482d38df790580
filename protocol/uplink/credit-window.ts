/**
 * Credit-based flow control of batches, pure state. The upstream grants a
 * window (WELCOME, then CREDIT at any time): the most batches the relay may
 * have sent and not yet seen acknowledged. Lowering the window below what is
 * in flight takes nothing back; it only stops new sends until acks bring the
 * count under it. A window of 0 pauses batches. In-flight batches are keyed
 * by firstSeq: batches never overlap, so no two share one.
 */
import { UplinkError, UplinkErrorCode } from './errors.js';
import type { SeqRange } from './messages.js';

export class CreditWindow {
  private limit: number;
  /** firstSeq → lastSeq of each batch in flight. */
  private readonly inFlight = new Map<number, number>();

  /** Start with `window` credits (0 until WELCOME arrives). */
  constructor(window = 0) {
    this.limit = checkWindow(window);
  }

  /** The current window. */
  get window(): number {
    return this.limit;
  }

  /** Batches sent and not yet acknowledged. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Batches that may be sent now. */
  get available(): number {
    return Math.max(0, this.limit - this.inFlight.size);
  }

  /** True when one more batch may be sent. */
  canSend(): boolean {
    return this.inFlight.size < this.limit;
  }

  /** Record batch (first, last) as sent. Throws OWL_ERR_UPLINK_NO_CREDIT or OWL_ERR_UPLINK_BATCH_IN_FLIGHT. */
  onSent(firstSeq: number, lastSeq: number): void {
    if (!this.canSend()) {
      throw new UplinkError(
        UplinkErrorCode.NO_CREDIT,
        `no credit: ${this.inFlight.size} of ${this.limit} in flight`,
      );
    }
    if (this.inFlight.has(firstSeq)) {
      throw new UplinkError(
        UplinkErrorCode.BATCH_IN_FLIGHT,
        `a batch starting at ${firstSeq} is already in flight`,
      );
    }
    this.inFlight.set(firstSeq, lastSeq);
  }

  /** Record the ack of batch (first, last); false when no such batch was in flight (a stale or bogus ack). */
  onAck(firstSeq: number, lastSeq: number): boolean {
    if (this.inFlight.get(firstSeq) !== lastSeq) return false;
    this.inFlight.delete(firstSeq);
    return true;
  }

  /** True when batch (first, last) is in flight. */
  has(firstSeq: number, lastSeq: number): boolean {
    return this.inFlight.get(firstSeq) === lastSeq;
  }

  /** Set the window (a CREDIT arrived). */
  setWindow(window: number): void {
    this.limit = checkWindow(window);
  }

  /** The batches in flight, ascending by firstSeq. */
  ranges(): SeqRange[] {
    return [...this.inFlight].sort((a, b) => a[0] - b[0]);
  }

  /** Connection lost: forget the batches in flight, set the window; returns what was in flight, ascending. */
  reset(window = 0): SeqRange[] {
    const lost = this.ranges();
    this.inFlight.clear();
    this.limit = checkWindow(window);
    return lost;
  }
}

function checkWindow(window: number): number {
  if (!Number.isInteger(window) || window < 0) throw new RangeError(`window ${window} is not a uint`);
  return window;
}
