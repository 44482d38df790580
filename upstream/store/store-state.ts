/**
 * What the parts of RocksSampleStore share (rocks-store.ts describes the
 * design and the invariants they keep): the database, the store's figures as
 * last made durable, the acknowledged points not yet folded, and the series-id
 * cache. One object, so that the write path (group-commit.ts), the checkpoint
 * (checkpoint.ts, fold.ts), the reads (queries.ts, meta.ts) and retention
 * (retention.ts) can each be a module of its own. Every change to it happens
 * in exactly one of them, after the batch that makes it durable was written.
 */
import { ByteWriter } from './bytes.js';
import type { DB } from './db.js';
import type { ForwardLog } from './forward-log.js';
import { PendingSet } from './pending.js';
import type { SeriesIdCache } from './series-cache.js';
import type { SeriesKeyLimits } from './series-key.js';

export class StoreState {
  /** Block span (ms), as stored in the database's format record once it is open. */
  bucketMs: number;
  /** The persisted counters (`c` keys), as of the last written batch. */
  nextId = 1;
  seriesCount = 0;
  pointCount = 0;
  /** Seq of the next log record. */
  nextSeq = 0;
  /** Log records below this seq are folded (`c foldedBelow`); records kept for sinks are not replayed. */
  foldedBelow = 0;
  /** Forwarding cursors and the records held for them; undefined when no sink is configured. */
  fw: ForwardLog | undefined;
  /** False: points only go to the log for the sinks, never into pending or blocks. */
  keepSamples = true;
  /** StoreStats.samples: marked points of the sets folded since open (not persisted). */
  foldedSamples = 0;
  /** Bumped when retention removes series: cached ids taken before may be stale. */
  epoch = 0;

  /** Acknowledged, not yet folded; new writes land here. */
  pending = new PendingSet();
  /** Being folded by the running checkpoint; older than `pending`. */
  frozen: PendingSet | undefined;

  lifecycle: 'open' | 'closing' | 'closed' = 'open';

  /** Scratch for blocks (fold, retention: never at once, both run as exclusive jobs). */
  readonly blockWriter = new ByteWriter(64 * 1024);
  /** Scratch for log records (one group commit at a time). */
  readonly logWriter = new ByteWriter(256 * 1024);

  constructor(
    readonly db: DB,
    readonly ids: SeriesIdCache,
    readonly limits: SeriesKeyLimits,
    bucketMs: number,
  ) {
    this.bucketMs = bucketMs;
  }

  /** Acknowledged points not yet in blocks. */
  get pendingPoints(): number {
    return this.pending.points + (this.frozen?.points ?? 0);
  }
}
