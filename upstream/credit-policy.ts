/**
 * Credit on the uplink, seen from the upstream (docs/uplink.md section 7.3):
 * how many unacknowledged batches each relay may have in flight, and whether
 * a relay kept to it. Pure state, no I/O.
 *
 * CreditPolicy — the share. A total budget of in-flight batches
 * (`maxInflightBatches`) is split evenly among the connected relays:
 *
 *   window = max(1, min(relayWindow, floor(budget / connected)))
 *
 * so one relay's replay can hold at most its share of the batches the
 * upstream buffers and stores at a time, however deep its backlog. Every
 * relay gets at least 1 (a relay with no credit could never drain), so with
 * more relays than budget the total is `connected`, not the budget. A relay
 * joins at HELLO (its WELCOME carries its window) and leaves at close; both
 * may change every other relay's share, which the caller sends as CREDIT.
 * Replaying relays are not given less than live ones: the relay interleaves
 * live and replay batches (section 7.5), so throttling its replay throttles
 * its live data too, and a share keyed on the batch flag would flap with
 * every batch.
 *
 * CreditLedger — the check. Per connection, the batches received and not yet
 * acknowledged (`inFlight`) must never exceed the window the relay had when
 * it took the credit for the newest one. The upstream does not know when a
 * CREDIT that lowered the window reached the relay, so a batch may still
 * count against an older, larger window — but only for a bounded number of
 * arrivals. When CREDIT replaces window W at a moment with U batches
 * unacknowledged, a batch the relay sent before reading that CREDIT was sent
 * while all those U, and every batch received since, were unacknowledged at
 * the relay too (acks sent after the CREDIT reach it after the CREDIT). So at
 * most W − U batches arriving after the CREDIT can have been sent under W;
 * from the next one on, the newer window applies. The ledger keeps one such
 * (window, arrivals left) entry per lowered window still in reach, and drops
 * an entry once its window is no larger than the current one or a newer
 * entry's (that one allows as many batches for at least as many arrivals),
 * so entries have strictly decreasing windows and stay fewer than the
 * largest window. Requires that the relay sends batches in the order it took
 * their credit (one DATA queue), which the relay's uplink client does.
 */

/** Default budget of unacknowledged batches across all relays (4 relays at the default window of 8). */
export const DEFAULT_MAX_INFLIGHT_BATCHES = 32;

interface CreditPolicyOptions {
  /** Batches in flight across all relays, shared evenly. */
  maxInflightBatches: number;
  /** Most batches in flight for one relay, however few are connected. */
  relayWindow: number;
}

/** The window of each of `connected` relays under `options`. */
export function fairShare(options: CreditPolicyOptions, connected: number): number {
  const even = Math.floor(options.maxInflightBatches / Math.max(1, connected));
  return Math.max(1, Math.min(options.relayWindow, even));
}

/** Who has how much credit; keys are connections (a relay's replaced connection is another key). */
export class CreditPolicy<K> {
  private readonly members = new Set<K>();
  private share: number;

  constructor(private readonly options: CreditPolicyOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || value < 1 || value > 65_535) {
        throw new RangeError(`${name} must be an integer 1-65535, not ${value}`);
      }
    }
    this.share = fairShare(options, 0);
  }

  /** Connected relays. */
  get size(): number {
    return this.members.size;
  }

  /** The window of `key`, or undefined when it has not joined. */
  window(key: K): number | undefined {
    return this.members.has(key) ? this.share : undefined;
  }

  /** `key` joins (sends HELLO): the windows that changed, its own included. */
  join(key: K): Map<K, number> {
    if (this.members.has(key)) return new Map();
    this.members.add(key);
    const before = this.share;
    this.share = fairShare(this.options, this.members.size);
    const changed = new Map<K, number>();
    for (const k of this.members) if (k === key || this.share !== before) changed.set(k, this.share);
    return changed;
  }

  /** `key` leaves (its connection closed): the windows of the others that changed. */
  leave(key: K): Map<K, number> {
    if (!this.members.delete(key)) return new Map();
    const before = this.share;
    this.share = fairShare(this.options, this.members.size);
    const changed = new Map<K, number>();
    if (this.share !== before) for (const k of this.members) changed.set(k, this.share);
    return changed;
  }
}

interface Lowered {
  /** A window since replaced by a lower one, which a relay may still be sending under. */
  window: number;
  /** How many more arrivals may still have been sent under it. */
  left: number;
}

/** One connection's batches in flight against the windows granted to it. */
export class CreditLedger {
  private current: number;
  private unacked = 0;
  private lowered: Lowered[] = [];

  /** Start with the window sent in WELCOME. */
  constructor(window: number) {
    this.current = checkWindow(window);
  }

  /** The window last granted. */
  get window(): number {
    return this.current;
  }

  /** Batches received and not yet acknowledged. */
  get inFlight(): number {
    return this.unacked;
  }

  /** The most batches the next one may find in flight, itself included (a lowered window still in reach, or the current). */
  get limit(): number {
    return Math.max(this.current, this.lowered[0]?.window ?? 0);
  }

  /** A CREDIT with `window` is being sent now. */
  grant(window: number): void {
    checkWindow(window);
    if (window < this.current && this.current > this.unacked) {
      // Older entries with a window ≤ this one are covered by this one: more window, more arrivals left.
      this.lowered = this.lowered.filter((e) => e.window > this.current);
      this.lowered.push({ window: this.current, left: this.current - this.unacked });
    }
    this.current = window;
    this.lowered = this.lowered.filter((e) => e.window > window);
  }

  /** A BATCH arrived: false when it is beyond every window the relay may have sent it under. */
  onBatch(): boolean {
    this.unacked++;
    let limit = this.current;
    for (const e of this.lowered) {
      e.left--;
      if (e.left >= 0 && e.window > limit) limit = e.window;
    }
    this.lowered = this.lowered.filter((e) => e.left > 0);
    return this.unacked <= limit;
  }

  /** A BATCH_ACK is being sent now. */
  onAck(): void {
    if (this.unacked > 0) this.unacked--;
  }
}

function checkWindow(window: number): number {
  if (!Number.isInteger(window) || window < 0 || window > 65_535) {
    throw new RangeError(`window ${window} is not an integer 0-65535`);
  }
  return window;
}
