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
import { SYSTEM_TIMERS, type TimerHandle, type Timers } from '../timers.js';

/** Periods of silence after which the peer is taken as gone. */
const UPLINK_MISSED_HEARTBEATS = 3;

/** Default heartbeat period (WELCOME `heartbeatMs`): a silent peer is noticed within 17.5 s. */
export const UPLINK_DEFAULT_HEARTBEAT_MS = 5_000;

/** The clock and interval timers a Heartbeat uses (SYSTEM_TIMERS by default). */
export type HeartbeatTimers = Pick<Timers, 'now' | 'setInterval' | 'clearInterval'>;

export interface HeartbeatOptions {
  periodMs: number;
  /** Send a PING carrying this clock reading. */
  ping: (t: number) => void;
  /** The peer was silent for `silentMs` (at least UPLINK_MISSED_HEARTBEATS periods); the heartbeat has stopped. */
  onSilent: (silentMs: number) => void;
  timers?: HeartbeatTimers;
}

export class Heartbeat {
  private lastHeard: number;
  private ticks = 0;
  private handle: TimerHandle | undefined;
  private readonly timers: HeartbeatTimers;

  constructor(private readonly options: HeartbeatOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.lastHeard = this.now();
  }

  private now(): number {
    return this.timers.now();
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
    this.timers.clearInterval(this.handle);
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
