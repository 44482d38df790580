import path from 'node:path';
import { createRocksDb, type RocksBatchOp, type RocksDb, type RocksOpenOptions } from '../../rocks/index.js';
import { dirBytesSync } from './disk-usage.js';
import {
  decodeKey,
  decodeMeta,
  decodeValue,
  encodeKey,
  encodeMeta,
  encodeValueInto,
  META_KEY,
  VALUE_HEADER_BYTES,
  segmentName,
  type SegmentMeta,
} from './format.js';

/** Segment size, RocksDB's options (memtable budget) and the disk reserve for a spool of `maxBytes`. */
export function segmentSizes(
  maxBytes: number,
  segmentBytes: number | undefined,
): { segmentBytes: number; reserveBytes: number; rocksOptions: RocksOpenOptions } {
  const segment = segmentBytes ?? clamp(Math.floor(maxBytes / 16), 256 << 10, 256 << 20);
  // A quarter of the budget is one memtable; flushes happen at about two.
  const budget = clamp(Math.floor(segment / 8), 256 << 10, 16 << 20);
  const rocksOptions: RocksOpenOptions = {
    compaction: 'level',
    memtableMemoryBudget: budget,
    // Not ZSTD-with-dictionaries everywhere: dictionary training makes
    // compaction too slow to keep up, and deleted data then lingers.
    compression: false,
    compactionPriority: 'byCompensatedSize',
    cacheSize: 0,
    blockSize: 16 << 10,
    filterPolicy: '',
    // Records are zstd-compressed already (PACKED): compressing the WAL again costs a zstd stream
    // per open segment (memory) and CPU on every commit, and saves nothing.
    walCompression: false,
  };
  return { segmentBytes: segment, reserveBytes: budget + (64 << 10), rocksOptions };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * A record to write: its value (header, then payload) is encoded when the batch is built, into a
 * buffer reused for every record, so staging a record copies nothing and allocates no value.
 */
interface RecordPut {
  key: Buffer;
  receivedAt: number;
  samples: number;
  payload: Buffer;
}

/** What a segment's batch holds: records to put, or deletes (and other puts) as RocksDB ops. */
export type SegmentOp = RocksBatchOp | RecordPut;

let valueScratch: Buffer = Buffer.alloc(0);

/**
 * One spool segment: a RocksDB instance holding the records with seq in
 * [first, meta.next). `meta` in memory is authoritative and is written with
 * every batch. The RocksDB handle is opened on demand and may be closed while
 * the segment is idle, so a large backlog costs no memory per segment beyond
 * this object.
 */
export class Segment {
  readonly first: number;
  readonly name: string;
  readonly dir: string;
  meta: SegmentMeta;
  /** Seq and receivedAt of the first live record (undefined when none). */
  headSeq: number | undefined;
  headReceivedAt: number | undefined;
  /** Set when records at the head may have been deleted and headSeq must be looked up again. */
  headStale = false;
  /** Bytes on disk at the last measurement, and bytes written since (not yet reflected in it). */
  diskMeasured = 0;
  unmeasured = 0;
  lastMeasuredAt = -Infinity;
  /** LRU tick of the last use. */
  lastUsed = 0;
  private db: RocksDb | undefined;
  private opening: Promise<RocksDb> | undefined;

  constructor(
    spoolDir: string,
    first: number,
    meta: SegmentMeta,
    private readonly options: RocksOpenOptions,
  ) {
    this.first = first;
    this.name = segmentName(first);
    this.dir = path.join(spoolDir, this.name);
    this.meta = meta;
  }

  get isOpen(): boolean {
    return this.db !== undefined;
  }

  /** The open handle, opening it first if needed (creating the directory if `create`). */
  async handle(create = false): Promise<RocksDb> {
    if (this.db) return this.db;
    if (!this.opening) {
      this.opening = (async () => {
        const db = createRocksDb(this.dir);
        await db.open({ ...this.options, createIfMissing: create });
        this.db = db;
        return db;
      })().finally(() => (this.opening = undefined));
    }
    return this.opening;
  }

  async closeHandle(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) await db.close();
  }

  /** Read the stored meta (undefined when the key is absent). Throws on unparsable meta. */
  async readMeta(): Promise<SegmentMeta | undefined> {
    const db = await this.handle();
    const [value] = await db.getMany([META_KEY]);
    return value === undefined ? undefined : decodeMeta(value);
  }

  /** True when the segment holds at least one data key. */
  async hasData(): Promise<boolean> {
    const db = await this.handle();
    const it = db.iterator({ lt: META_KEY, limit: 1, values: false });
    try {
      return (await it.nextv(1)).length > 0;
    } finally {
      await it.close();
    }
  }

  /** Write `ops` plus `meta` as one synced batch (one fdatasync) and adopt `meta`. */
  async commit(ops: SegmentOp[], meta: SegmentMeta): Promise<void> {
    const db = await this.handle();
    const batch = db.batch();
    let bytes = 0;
    try {
      for (const op of ops) {
        let value: Buffer | undefined;
        if ('payload' in op) {
          // The batch copies what put() is given: one buffer serves every record's value.
          const n = VALUE_HEADER_BYTES + op.payload.length;
          if (valueScratch.length < n)
            valueScratch = Buffer.allocUnsafeSlow(Math.max(n, 2 * valueScratch.length));
          value = encodeValueInto(valueScratch, op.receivedAt, op.samples, op.payload);
        } else {
          value = op.value;
        }
        if (value) batch.put(op.key, value);
        else batch.del(op.key);
        bytes += op.key.length + (value?.length ?? 0) + 16;
      }
      const metaValue = encodeMeta(meta);
      batch.put(META_KEY, metaValue);
      bytes += META_KEY.length + metaValue.length + 16;
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: true });
    this.meta = meta;
    this.unmeasured += bytes;
  }

  /** Entries with lo <= seq < hi, in chunks of up to `chunk` rows. */
  async *scan(lo: number, hi: number, chunk: number): AsyncGenerator<Array<[Buffer, Buffer]>> {
    lo = Math.max(lo, this.first);
    hi = Math.min(hi, this.meta.next);
    if (lo >= hi) return;
    const db = await this.handle();
    const it = db.iterator({ gte: encodeKey(lo), lt: encodeKey(hi) });
    try {
      for (;;) {
        const rows = await it.nextv(chunk);
        if (rows.length === 0) return;
        yield rows;
      }
    } finally {
      await it.close();
    }
  }

  /** Look up the first live record at or after `from`. */
  async findHead(from = this.first): Promise<void> {
    this.headStale = false;
    if (this.meta.liveRecords === 0) {
      this.headSeq = undefined;
      this.headReceivedAt = undefined;
      return;
    }
    for await (const rows of this.scan(from, this.meta.next, 1)) {
      const row = rows[0];
      if (row) {
        this.headSeq = decodeKey(row[0]);
        this.headReceivedAt = decodeValue(row[1]).receivedAt;
        return;
      }
    }
    // Meta says live records exist but none were found after `from`: search from the start.
    if (from > this.first) return this.findHead(this.first);
    this.headSeq = undefined;
    this.headReceivedAt = undefined;
  }

  /** Measure the directory's bytes now. */
  measure(now: number): number {
    this.diskMeasured = dirBytesSync(this.dir);
    this.unmeasured = 0;
    this.lastMeasuredAt = now;
    return this.diskMeasured;
  }

  /**
   * Conservative disk estimate: written-but-unmeasured bytes count twice, since
   * until the memtable is flushed and its WAL deleted they sit in both.
   */
  get diskEstimate(): number {
    return this.diskMeasured + 2 * this.unmeasured;
  }
}
