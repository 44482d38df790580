/**
 * A relay-wide cap on bytes that agents sent and the spool has not yet made
 * durable. Per-connection limits alone let a hundred busy agents pile up
 * hundreds of MB in front of the spool; past `highBytes` every connection
 * stops reading until the backlog falls under `lowBytes`. Agents then wait in
 * their own TCP buffers, which is where the data belongs until it is safe.
 */
export class IngestGate {
  private pending = 0;
  private full = false;
  private heldNow = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly highBytes: number,
    readonly lowBytes: number = Math.floor(highBytes / 2),
  ) {}

  /** True while connections must not read. */
  get closed(): boolean {
    return this.full || this.heldNow;
  }

  /**
   * Hold intake while the uplink is connected but behind on live data: agents
   * wait (in their own buffers) instead of the uplink starving behind them.
   */
  hold(held: boolean): void {
    if (held === this.heldNow) return;
    const wasClosed = this.closed;
    this.heldNow = held;
    if (wasClosed && !this.closed) this.notify();
  }

  get pendingBytes(): number {
    return this.pending;
  }

  /** `bytes` were handed to the spool. */
  add(bytes: number): void {
    this.pending += bytes;
    if (!this.full && this.pending >= this.highBytes) this.full = true;
  }

  /** `bytes` became durable (or failed). */
  done(bytes: number): void {
    this.pending -= bytes;
    if (this.full && this.pending <= this.lowBytes) {
      this.full = false;
      if (!this.closed) this.notify();
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Called whenever the gate opens again. */
  onOpen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
