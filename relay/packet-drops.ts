/**
 * Relay-wide account of packets dropped from v3 peers: well-framed packets
 * whose content failed validation, dropped one by one while the connection
 * goes on (AgentConnection; a v3 agent never resends, so closing would lose
 * more). Each is counted; the log gets the first drop at once and then at
 * most one line per `intervalMs` with how many were dropped since, from how
 * many sources, and the last one, however many a broken agent sends.
 */
import type { OwlError } from '../protocol/index.js';

/** The subset of a pino logger used. */
export interface DropLogger {
  warn(obj: object, msg: string): void;
}

export interface PacketDropsOptions {
  log: DropLogger;
  now: () => number;
  /** Called once per dropped packet, e.g. to count it by code. */
  onDropped?: (error: OwlError) => void;
  /** At most one log line per this many ms (default 60 s). */
  intervalMs?: number;
}

export class PacketDrops {
  private total = 0;
  /** Drops not yet in a log line, and their sources. */
  private unlogged = 0;
  private readonly sources = new Set<string>();
  private last: { source: string; error: OwlError } | undefined;
  private lastLogAt: number | undefined;

  constructor(private readonly options: PacketDropsOptions) {}

  /** Packets dropped since start. */
  get count(): number {
    return this.total;
  }

  /** A packet from `source` was dropped on `error`. */
  dropped(source: string, error: OwlError): void {
    this.total++;
    this.unlogged++;
    this.options.onDropped?.(error);
    // Bounded: only the sources of one interval, and a source is an address.
    if (this.sources.size < 1000) this.sources.add(source);
    this.last = { source, error };
    const now = this.options.now();
    if (this.lastLogAt !== undefined && now - this.lastLogAt < (this.options.intervalMs ?? 60_000)) return;
    this.flush(now);
  }

  /** Log what was dropped since the last line (if anything); e.g. at shutdown. */
  flush(now = this.options.now()): void {
    const last = this.last;
    if (this.unlogged === 0 || last === undefined) return;
    const field =
      'field' in last.error && typeof last.error.field === 'string' ? last.error.field : undefined;
    this.options.log.warn(
      {
        dropped: this.unlogged,
        droppedTotal: this.total,
        sources: this.sources.size,
        agent: last.source,
        code: last.error.code,
        why: last.error.message,
        ...(field === undefined ? {} : { field }),
      },
      'v3 packets with bad content dropped (their connections go on)',
    );
    this.lastLogAt = now;
    this.unlogged = 0;
    this.sources.clear();
  }
}
