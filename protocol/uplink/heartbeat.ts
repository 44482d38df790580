/**
 * The uplink's heartbeat rule, one copy for both ends (docs/uplink.md §2):
 * each side PINGs every `periodMs`; a peer from which nothing at all was
 * received for UPLINK_MISSED_HEARTBEATS periods is gone (a silent
 * partition: no FIN, no RST, only silence), and the connection is dropped
 * with HEARTBEAT_TIMEOUT. Silence is checked twice a period, so it is
 * noticed within 3.5 periods: 17.5 s at the default 5 s.
 *
 * Timers and the clock are injected, so tests drive it without waiting.
 */

/** Periods of silence after which the peer is taken as gone. */
export const UPLINK_MISSED_HEARTBEATS = 3;

/** Default heartbeat period (WELCOME `heartbeatMs`): a silent peer is noticed within 17.5 s. */
export const UPLINK_DEFAULT_HEARTBEAT_MS = 5_000;

/** The timer functions a Heartbeat uses (the global ones by default). */
export interface HeartbeatTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface HeartbeatOptions {
  periodMs: number;
  /** Send a PING carrying this clock reading. */
  ping: (t: number) => void;
  /** The peer was silent for `silentMs` (at least UPLINK_MISSED_HEARTBEATS periods); the heartbeat has stopped. */
  onSilent: (silentMs: number) => void;
  now?: () => number;
  timers?: HeartbeatTimers;
}

const GLOBAL_TIMERS: HeartbeatTimers = {
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export class Heartbeat {
  private lastHeard: number;
  private ticks = 0;
  private handle: unknown;
  private readonly now: () => number;
  private readonly timers: HeartbeatTimers;

  constructor(private readonly options: HeartbeatOptions) {
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? GLOBAL_TIMERS;
    this.lastHeard = this.now();
  }

  /** The silence after which the peer is gone. */
  get timeoutMs(): number {
    return UPLINK_MISSED_HEARTBEATS * this.options.periodMs;
  }

  /** Start pinging and watching (from now: silence before counts as heard). */
  start(): void {
    this.stop();
    this.lastHeard = this.now();
    this.handle = this.timers.setInterval(() => this.tick(), Math.max(1, this.options.periodMs / 2));
  }

  /** Anything arrived from the peer. */
  heard(): void {
    this.lastHeard = this.now();
  }

  stop(): void {
    if (this.handle !== undefined) this.timers.clearInterval(this.handle);
    this.handle = undefined;
  }

  private tick(): void {
    const silentMs = this.now() - this.lastHeard;
    if (silentMs > this.timeoutMs) {
      this.stop();
      this.options.onSilent(silentMs);
      return;
    }
    // Checked every half period, pinged every period.
    if (this.ticks++ % 2 === 1) this.options.ping(this.now());
  }
}
