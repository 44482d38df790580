/**
 * The relay's dropped figures (status spool.droppedRecords/droppedSamples,
 * owl_relay_spool_dropped_*_total, RELAY_STATUS dropped.spoolCap).
 *
 * Meaning: records (samples) removed by the spool's cap policy (byte or age
 * cap) that never reached the upstream. The spool counts every record a cap
 * removes, but one may be in a batch already in flight: when that batch is
 * acknowledged STORED or DUPLICATE it was delivered, and the uplink reports
 * it (onDeliveredAfterDrop); until its batch settles, its fate is unknown
 * and it is not counted either (UplinkClient.droppedInFlight), so the
 * figures only ever grow. The dropped records of a REJECTED batch count (a
 * loss), and so do those of a batch whose connection closed before its ack:
 * they are not sent again, and nothing says they arrived.
 *
 * The spool's counters persist across restarts, the delivered-after-drop
 * count only for this process: after a restart the figures again include
 * records that an earlier process saw delivered after their drop.
 */
import type { Released, SpoolStats } from './spool/index.js';

export class DropCount {
  /**
   * Dropped by the spool while their batch was in flight, then acknowledged STORED or DUPLICATE:
   * delivered, so not dropped. Since this process started.
   */
  private deliveredRecords = 0;
  private deliveredSamples = 0;

  /** The uplink's onDeliveredAfterDrop. */
  deliveredAfterDrop(records: number, samples: number): void {
    this.deliveredRecords += records;
    this.deliveredSamples += samples;
  }

  /** The spool's drop counters less what was delivered after all and what is still in flight. */
  dropped(stats: Pick<SpoolStats, 'droppedRecords' | 'droppedSamples'>, inFlight: Released): Released {
    return {
      records: Math.max(0, stats.droppedRecords - this.deliveredRecords - inFlight.records),
      samples: Math.max(0, stats.droppedSamples - this.deliveredSamples - inFlight.samples),
    };
  }
}
