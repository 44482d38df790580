/**
 * The uplink's outage log: an upstream outage is one line when it starts
 * (with why: the first failure), a summary every `summaryMs` while it lasts
 * (failed attempts, the last failure, what the spool holds and how old its
 * oldest record is) and one line when it ends (how long it lasted), instead
 * of a line or two per reconnect attempt. The attempts' own lines go to
 * debug (logAttemptEnd, below). An outage starts at the first failed attempt
 * or when a connected link closes, and ends at the next WELCOME.
 */
import { describeCloseCode, UplinkErrorCode, type TimerHandle, type Timers } from '../protocol/index.js';

/** The subset of a pino logger used. */
export interface OutageLogger {
  /** Optional: a logger without it drops the attempts' own lines. */
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Why an attempt failed or a link closed. */
export interface UplinkFailure {
  url: string | undefined;
  /** One line an operator reads: an error message, the refusal or the close. */
  why: string;
  /** An error code (`ECONNREFUSED`, `OWL_ERR_UPLINK_HEARTBEAT_TIMEOUT`, …), when there is one. */
  code?: string | undefined;
  closeCode?: number | undefined;
  closeName?: string | undefined;
  /** HTTP status of a refused upgrade. */
  status?: number | undefined;
}

/** What the spool holds (summary figures). */
export interface SpooledFigures {
  records: number;
  bytes: number;
  /** Age of the oldest record, 0 when empty. */
  ageMs: number;
}

export interface OutageLogOptions {
  log: OutageLogger;
  timers: Timers;
  /** Period of the summary line while an outage lasts (default 60 s). */
  summaryMs?: number;
  spooled: () => SpooledFigures;
}

export const DEFAULT_SUMMARY_MS = 60_000;

interface Outage {
  since: number;
  /** The link was up when the outage began (else the first attempts failed). */
  wasConnected: boolean;
  failures: number;
  last: UplinkFailure;
  timer: TimerHandle;
}

export class OutageLog {
  private outage: Outage | undefined;

  constructor(private readonly options: OutageLogOptions) {}

  /** True from the first failure to the next connect. */
  get down(): boolean {
    return this.outage !== undefined;
  }

  /** An attempt failed (`wasConnected` false) or a connected link closed: an outage starts or goes on. */
  failed(failure: UplinkFailure, wasConnected: boolean): void {
    const outage = this.outage;
    if (outage !== undefined) {
      outage.failures++;
      outage.last = failure;
      return;
    }
    const { timers } = this.options;
    this.outage = {
      since: timers.now(),
      wasConnected,
      failures: wasConnected ? 0 : 1,
      last: failure,
      timer: timers.setInterval(() => this.summary(), this.options.summaryMs ?? DEFAULT_SUMMARY_MS),
    };
    const s = this.options.spooled();
    this.options.log.warn(
      { ...failure, wasConnected, spooledRecords: s.records, spooledBytes: s.bytes },
      'uplink down: spooling until the upstream is back',
    );
  }

  /**
   * WELCOME: logs the connect, with the outage's figures when one ends. `fields` (url, backlog…)
   * go on the line as they are.
   */
  connected(fields: object): void {
    const outage = this.outage;
    if (outage === undefined) {
      this.options.log.info(fields, 'uplink connected');
      return;
    }
    this.options.timers.clearInterval(outage.timer);
    this.outage = undefined;
    this.options.log.info(
      { ...fields, outageMs: this.options.timers.now() - outage.since, failedAttempts: outage.failures },
      'uplink up again: outage over',
    );
  }

  /** The relay stops: no more summaries (an outage in progress is not "over"). */
  stop(): void {
    if (this.outage !== undefined) this.options.timers.clearInterval(this.outage.timer);
    this.outage = undefined;
  }

  private summary(): void {
    const outage = this.outage;
    if (outage === undefined) return;
    const s = this.options.spooled();
    const { why, code } = outage.last;
    this.options.log.warn(
      {
        outageMs: this.options.timers.now() - outage.since,
        failedAttempts: outage.failures,
        lastWhy: why,
        lastCode: code,
        spooledRecords: s.records,
        spooledBytes: s.bytes,
        oldestAgeMs: s.ageMs,
      },
      'uplink still down',
    );
  }
}

/** How one attempt or connection ended (uplink-client.ts gathers it at the close). */
export interface AttemptEnd {
  url: string | undefined;
  closeCode: number;
  reason: string;
  /** The link was up (WELCOMEd). */
  wasConnected: boolean;
  /** Set when the upstream fell silent (heartbeat timeout). */
  silentMs?: number | undefined;
  err?: (Error & { code?: string }) | undefined;
  /** The upgrade was refused with an HTTP status. */
  refusal?: { status: number; closeCode: number; closeName: string } | undefined;
}

/** The attempt's own lines: at warn when `loud`, else at debug. */
export function logAttemptEnd(log: OutageLogger, end: AttemptEnd, loud: boolean): void {
  const line = loud ? log.warn.bind(log) : (log.debug?.bind(log) ?? (() => undefined));
  const { url, err, silentMs, closeCode, reason, wasConnected } = end;
  if (err !== undefined) line({ url, err: err.message, code: err.code }, 'uplink error');
  if (silentMs !== undefined)
    line({ url, code: UplinkErrorCode.HEARTBEAT_TIMEOUT, silentMs }, 'uplink closed: heartbeat timeout');
  else
    line({ closeCode, closeName: describeCloseCode(closeCode).name, reason, wasConnected }, 'uplink closed');
}

/** Why an attempt failed or a connection ended, in one line an operator reads. */
export function uplinkFailure(end: AttemptEnd): UplinkFailure {
  const { url, silentMs, refusal, err, closeCode, reason } = end;
  if (silentMs !== undefined)
    return {
      url,
      why: `heartbeat timeout: nothing heard from the upstream for ${silentMs} ms`,
      code: UplinkErrorCode.HEARTBEAT_TIMEOUT,
    };
  if (refusal !== undefined)
    return { url, why: `refused: HTTP ${refusal.status} (${refusal.closeName})`, ...refusal };
  if (err !== undefined) return { url, why: err.message, code: err.code };
  const { name } = describeCloseCode(closeCode);
  // 1006: ws's code for a socket that ended without a close frame (the upstream died, a proxy cut it).
  if (closeCode === 1006)
    return { url, why: 'connection lost without a close frame', closeCode, closeName: name };
  return {
    url,
    why: reason === '' ? `closed: ${name}` : `closed: ${name} (${reason})`,
    closeCode,
    closeName: name,
  };
}
