/**
 * Agent connections in the log: each connect, disconnect and refusal (over a
 * connection cap) at debug, and at info one summary per `summaryMs` in which
 * anything changed: agents connected now, connects, disconnects and refused
 * connections since the last summary. A zone of thousands of agents that
 * reconnect after a relay restart (or a NAT zone at its per-source cap)
 * makes a few lines a minute, not one per agent. The summary is a warning
 * when connections were refused: a cap needs an operator.
 *
 * Disconnects are counted from the connection count (connected at the last
 * summary + connects - connected now), so they are exact whether or not each
 * one is reported.
 */
import type { TimerHandle, Timers } from '../protocol/index.js';
import { DEFAULT_SUMMARY_MS } from './outage-log.js';

/** The subset of a pino logger used. */
export interface AgentLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AgentLogOptions {
  log: AgentLogger;
  timers: Timers;
  /** Agent connections open now. */
  connectedNow: () => number;
  /** Period of the summary (default 60 s). */
  summaryMs?: number;
}

export class AgentLog {
  private connects = 0;
  private refusals = 0;
  private readonly refusedByCode = new Map<string, number>();
  private lastConnected = 0;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: AgentLogOptions) {}

  /** Summaries from now on, every `summaryMs`. */
  start(): void {
    this.lastConnected = this.options.connectedNow();
    this.timer ??= this.options.timers.setInterval(
      () => this.summary(),
      this.options.summaryMs ?? DEFAULT_SUMMARY_MS,
    );
  }

  stop(): void {
    this.options.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  connected(agent: string): void {
    this.connects++;
    this.options.log.debug({ agent }, 'agent connected');
  }

  disconnected(agent: string): void {
    this.options.log.debug({ agent }, 'agent disconnected');
  }

  /** A connection was refused at accept (`code`: why, e.g. OWL_ERR_TOO_MANY_CONNECTIONS). */
  refused(agent: string, code: string): void {
    this.refusals++;
    this.refusedByCode.set(code, (this.refusedByCode.get(code) ?? 0) + 1);
    this.options.log.debug({ agent, code }, 'agent connection refused');
  }

  /** The summary line, if anything changed since the last one (the timer calls it). */
  summary(): void {
    const now = this.options.connectedNow();
    const disconnects = Math.max(0, this.lastConnected + this.connects - now);
    if (this.connects === 0 && disconnects === 0 && this.refusals === 0) return;
    const fields = {
      agentsConnected: now,
      connects: this.connects,
      disconnects,
      refused: this.refusals,
      ...(this.refusals === 0 ? {} : { refusedByCode: Object.fromEntries(this.refusedByCode) }),
    };
    if (this.refusals > 0) this.options.log.warn(fields, 'agent connections');
    else this.options.log.info(fields, 'agent connections');
    this.lastConnected = now;
    this.connects = 0;
    this.refusals = 0;
    this.refusedByCode.clear();
  }
}
