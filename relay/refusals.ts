/**
 * Relay-wide account of agent connections closed because the spool refused
 * their packets (cap reached under policy 'reject-new'; see
 * AgentConnection). Each refused connection is counted; the log gets one
 * line when refusing starts and one when the spool takes agents' packets
 * again, not one per batch, per connection or per agent reconnect. Near the
 * cap, appends that fit and appends that do not can alternate: refusing ends
 * only with an append made durable at least `settleMs` after the last
 * refusal.
 */
import type { OwlError } from '../protocol/index.js';

/** The subset of a pino logger used. */
export interface RefusalLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface SpoolRefusalsOptions {
  log: RefusalLogger;
  now: () => number;
  /** Called once per refused connection, e.g. to count it. */
  onRefused?: (error: OwlError) => void;
  /** Quiet time after the last refusal before a durable append ends the refusing state (ms). */
  settleMs?: number;
}

export class SpoolRefusals {
  private refusingSince: number | undefined;
  private lastRefusal = 0;
  private connections = 0;

  constructor(private readonly options: SpoolRefusalsOptions) {}

  /** True while the spool refuses agents' packets. */
  get refusing(): boolean {
    return this.refusingSince !== undefined;
  }

  /** A connection from `agent` is being closed with `error` (its cause: the spool's refusal). */
  refused(agent: string, error: OwlError): void {
    const now = this.options.now();
    this.lastRefusal = now;
    this.connections++;
    this.options.onRefused?.(error);
    if (this.refusingSince !== undefined) return;
    this.refusingSince = now;
    const cause = error.cause instanceof Error && 'code' in error.cause ? error.cause.code : undefined;
    this.options.log.warn(
      { agent, code: error.code, cause },
      'spool refuses agent packets: agents are closed to reconnect and resend later',
    );
  }

  /** An agent's packets were made durable. */
  accepted(): void {
    const since = this.refusingSince;
    if (since === undefined) return;
    const now = this.options.now();
    if (now - this.lastRefusal < (this.options.settleMs ?? 1000)) return;
    this.options.log.info(
      { refusedConnections: this.connections, refusingMs: now - since },
      'spool takes agent packets again',
    );
    this.refusingSince = undefined;
    this.connections = 0;
  }
}
