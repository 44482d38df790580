/**
 * Stuck ranges (docs/uplink.md section 9.3). A store write that fails at the
 * upstream comes back as ERROR {code, message, firstSeq, lastSeq} and a
 * close; the relay resends on its next connection. The same range failing
 * with the same code STUCK_AFTER_FAILURES times in a row is not transient: it
 * is "stuck", logged once (OWL_ERR_UPLINK_BATCH_STUCK), reported, and retried
 * at the slow interval instead of in a tight loop, until an ack covers it
 * (stored after all) or the spool drops it. Its records are never dropped
 * here: agents were told they are safe.
 */
import { UplinkErrorCode } from '../protocol/index.js';
import type { UplinkLogger } from './uplink-client.js';

/** A seq range the upstream failed to store, with the same error code, `failures` times in a row. */
export interface StuckRange {
  firstSeq: number;
  lastSeq: number;
  /** The upstream's error code (e.g. OWL_ERR_STORE_IO). */
  code: string;
  message: string;
  failures: number;
}

/** Same failure, same range, this many times in a row: the range is stuck and retried slowly. */
const STUCK_AFTER_FAILURES = 2;

export class StuckRanges {
  /** The failure the upstream reported on the current connection, if any. */
  private reported: Omit<StuckRange, 'failures'> | undefined;
  /** The last reported failure and how often it repeated. */
  private failing: StuckRange | undefined;

  constructor(
    private readonly log: UplinkLogger,
    private readonly slowRetryMs: number,
    private readonly onStuck?: (stuck: StuckRange | undefined) => void,
  ) {}

  /** The range the upstream keeps failing to store, while it is stuck. */
  get stuck(): StuckRange | undefined {
    const f = this.failing;
    return f !== undefined && f.failures >= STUCK_AFTER_FAILURES ? { ...f } : undefined;
  }

  /** ERROR with a seq range: a store write of these records failed. */
  report(failure: Omit<StuckRange, 'failures'>): void {
    this.reported = failure;
  }

  /** The connection closed: count what it reported against the last failure. True while stuck. */
  closed(): boolean {
    const r = this.reported;
    this.reported = undefined;
    if (r === undefined) return this.stuck !== undefined;
    const f = this.failing;
    const same = f !== undefined && f.code === r.code && f.firstSeq === r.firstSeq && f.lastSeq === r.lastSeq;
    this.failing = { ...r, failures: same ? f.failures + 1 : 1 };
    if (this.failing.failures === STUCK_AFTER_FAILURES) {
      const { code, message, firstSeq, lastSeq, failures } = this.failing;
      this.log.error(
        {
          code: UplinkErrorCode.BATCH_STUCK,
          upstreamCode: code,
          why: message,
          firstSeq,
          lastSeq,
          failures,
          retryMs: this.slowRetryMs,
        },
        'uplink batch stuck: the upstream failed to store the same records twice; retrying slowly',
      );
      this.onStuck?.(this.stuck);
    }
    return this.stuck !== undefined;
  }

  /** A batch over [first, last] was acknowledged: if it covers the failing range, that range is done. */
  acked(first: number, last: number): void {
    const f = this.failing;
    if (f !== undefined && first <= f.lastSeq && last >= f.firstSeq) this.clear('acknowledged');
  }

  /** The spool now starts at `firstSeq`: a failing range below it was dropped by the cap. */
  spoolStartsAt(firstSeq: number): void {
    if (this.failing !== undefined && firstSeq > this.failing.lastSeq) this.clear('dropped');
  }

  /** The failing range is gone: log the end of a stuck state once. */
  private clear(how: 'acknowledged' | 'dropped'): void {
    const stuck = this.stuck;
    this.failing = undefined;
    if (stuck === undefined) return;
    this.log.info({ firstSeq: stuck.firstSeq, lastSeq: stuck.lastSeq, how }, 'uplink batch no longer stuck');
    this.onStuck?.(undefined);
  }
}
