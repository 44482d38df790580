/**
 * The agent's buffer: every batch it cut, kept until the relay ACKs it, in
 * memory for the newest and on disk for all, so nothing collected is lost
 * to kill -9, a reboot or a relay away for days.
 *
 * Layout under `dir`: `session` (the id its seqs count in, made with the
 * buffer), `acked` (the highest seq below which everything was ACKed), and
 * append-only segments `seg-<first seq>.log` of records (record.ts). An
 * append is fdatasync'ed before the batch is offered to a relay, so an ACK
 * can only cover what is on disk. A segment goes when all its batches are
 * ACKed; the one being written stays, so the last seq is always on disk.
 * The watermark is only an optimisation: after a crash the batches ACKed
 * since it was written are resent, and the relay answers them as duplicates.
 *
 * Bounded: past `maxBytes` the oldest segment is dropped, counted by batches
 * and samples, and logged once per drop; past `memoryBytes` the oldest
 * bodies are read back from disk when sent.
 */
import { mkdir, open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchSample } from '../../protocol/wire/index.js';
import { readFileIfExists, removeFile, syncDir, writeFileAtomic } from '../atomic-file.js';
import { nullLogger, type AgentLogger } from '../log.js';
import { encodeRecord, RECORD_HEADER_BYTES, scanRecords } from './record.js';

export interface BatchLogOptions {
  dir: string;
  /** The host's uuid, written into every batch. */
  uuid: string;
  /** Cap on the segments' bytes; past it the oldest segment is dropped (counted). */
  maxBytes: number;
  /** A segment is closed past this size. Default 1 MiB, at most maxBytes / 4. */
  segmentBytes?: number;
  /** Bodies kept in memory for sending; older ones are read back from disk. Default 1 MiB. */
  memoryBytes?: number;
  logger?: AgentLogger;
  /** Clock for the watermark's pacing. */
  now?: () => number;
}

/** A batch waiting for its ACK. */
export interface BufferedBatch {
  readonly seq: number;
  readonly samples: number;
  readonly bytes: number;
  /** @internal */ segment: Segment;
  /** @internal */ offset: number;
  /** @internal */ body: Buffer | undefined;
}

interface Segment {
  name: string;
  bytes: number;
  live: number;
}

export interface BatchLogStats {
  batches: number;
  samples: number;
  bytes: number;
  droppedBatches: number;
  droppedSamples: number;
  /** Bytes found damaged at recovery (a torn last write, or a bad disk). */
  damagedBytes: number;
}

const SEGMENT_RE = /^seg-(\d{16})\.log$/;
const segmentName = (seq: number): string => `seg-${String(seq).padStart(16, '0')}.log`;
/** The watermark is rewritten at most this often while ACKs come in (and on close). */
const WATERMARK_EVERY_MS = 30_000;

export class BatchLog {
  private readonly pending = new Map<number, BufferedBatch>();
  private readonly segments: Segment[] = [];
  private current!: { segment: Segment; fh: FileHandle };
  private nextSeq = 1;
  private acked = 0;
  private ackedWritten = 0;
  private ackedWrittenAt = 0;
  /** Batches whose body is in memory, oldest first. */
  private readonly bodies = new Set<BufferedBatch>();
  private memBytes = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly totals = { samples: 0, bytes: 0, droppedBatches: 0, droppedSamples: 0, damagedBytes: 0 };
  private readonly segmentBytes: number;
  private readonly memoryBytes: number;
  private readonly logger: AgentLogger;
  private readonly now: () => number;

  private constructor(
    private readonly options: BatchLogOptions,
    readonly session: string,
  ) {
    this.segmentBytes = Math.max(
      4096,
      Math.min(options.segmentBytes ?? 1 << 20, Math.floor(options.maxBytes / 4)),
    );
    this.memoryBytes = options.memoryBytes ?? 1 << 20;
    this.logger = options.logger ?? nullLogger;
    this.now = options.now ?? Date.now;
  }

  /** Open the buffer in `dir`, creating it or recovering what a crash left. */
  static async open(options: BatchLogOptions): Promise<BatchLog> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const sessionPath = join(options.dir, 'session');
    let session = (await readFileIfExists(sessionPath))?.trim();
    if (!session) {
      // A new buffer: its old segments (if any) belong to a session nobody can name any more.
      for (const name of await readdir(options.dir))
        if (SEGMENT_RE.test(name)) await removeFile(join(options.dir, name));
      // node:crypto only here, once per buffer: loading it costs the agent 5 MB of RSS.
      session = (await import('node:crypto')).randomUUID();
      await writeFileAtomic(sessionPath, session);
    }
    const log = new BatchLog(options, session);
    await log.recover();
    return log;
  }

  /** Buffered batches not yet ACKed, oldest first. */
  unacked(): IterableIterator<BufferedBatch> {
    return this.pending.values();
  }

  /** True while batch `seq` waits for its ACK. */
  has(seq: number): boolean {
    return this.pending.has(seq);
  }

  get size(): number {
    return this.pending.size;
  }

  stats(): BatchLogStats {
    return { batches: this.pending.size, ...this.totals };
  }

  /** Cut a batch of `samples`: durable on disk when this resolves; returns it. */
  append(samples: BatchSample[]): Promise<BufferedBatch> {
    return this.serial(() => this.appendNow(samples));
  }

  /** The SERIESBATCH body of `batch`, from memory or read back from its segment. */
  async body(batch: BufferedBatch): Promise<Buffer> {
    if (batch.body) return batch.body;
    const fh = await open(join(this.options.dir, batch.segment.name), 'r');
    try {
      const out = Buffer.allocUnsafe(batch.bytes - RECORD_HEADER_BYTES);
      await fh.read(out, 0, out.length, batch.offset + RECORD_HEADER_BYTES);
      return out;
    } finally {
      await fh.close();
    }
  }

  /** The relay made `seq` durable: forget it (unknown or already dropped seqs are ignored). */
  ack(seq: number): void {
    const batch = this.pending.get(seq);
    if (!batch) return;
    this.pending.delete(seq);
    this.totals.samples -= batch.samples;
    this.totals.bytes -= batch.bytes;
    this.forgetBody(batch);
    batch.segment.live--;
    const oldest = this.pending.keys().next();
    this.acked = oldest.done ? this.nextSeq - 1 : oldest.value - 1;
    if (batch.segment.live === 0 && batch.segment !== this.current.segment) {
      void this.serial(() => this.removeSegment(batch.segment, false));
    } else if (this.now() - this.ackedWrittenAt >= WATERMARK_EVERY_MS) {
      void this.serial(() => this.writeWatermark());
    }
  }

  /** Write the watermark and close the segment being written. */
  async close(): Promise<void> {
    await this.serial(async () => {
      await this.writeWatermark();
      await this.current.fh.close();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(samples: BatchSample[]): Promise<BufferedBatch> {
    const seq = this.nextSeq;
    const body = Buffer.from(
      JSON.stringify({ session: this.session, seq, uuid: this.options.uuid, samples }),
    );
    const record = encodeRecord(seq, samples.length, body);
    if (this.current.segment.bytes > 0 && this.current.segment.bytes + record.length > this.segmentBytes) {
      await this.roll(seq);
    }
    const segment = this.current.segment;
    await this.current.fh.write(record, 0, record.length, segment.bytes);
    await this.current.fh.datasync();
    this.nextSeq = seq + 1;
    const batch: BufferedBatch = {
      seq,
      samples: samples.length,
      bytes: record.length,
      segment,
      offset: segment.bytes,
      body,
    };
    segment.bytes += record.length;
    segment.live++;
    this.pending.set(seq, batch);
    this.totals.samples += batch.samples;
    this.totals.bytes += batch.bytes;
    this.keepBody(batch);
    await this.enforceCap();
    return batch;
  }

  private keepBody(batch: BufferedBatch): void {
    if (!batch.body) return;
    this.bodies.add(batch);
    this.memBytes += batch.body.length;
    for (const old of this.bodies) {
      if (this.memBytes <= this.memoryBytes || old === batch) break;
      this.forgetBody(old);
    }
  }

  private forgetBody(batch: BufferedBatch): void {
    if (!batch.body) return;
    this.memBytes -= batch.body.length;
    batch.body = undefined;
    this.bodies.delete(batch);
  }

  /** Past the cap, drop whole segments, oldest first, never the one being written. */
  private async enforceCap(): Promise<void> {
    while (this.segments.length > 1 && this.segmentsBytes() > this.options.maxBytes) {
      const oldest = this.segments[0]!;
      let batches = 0;
      let samples = 0;
      for (const batch of [...this.pending.values()]) {
        if (batch.segment !== oldest) break;
        batches++;
        samples += batch.samples;
        this.ack(batch.seq);
      }
      this.totals.droppedBatches += batches;
      this.totals.droppedSamples += samples;
      this.logger.warn(
        {
          batches,
          samples,
          maxBytes: this.options.maxBytes,
          droppedSamplesTotal: this.totals.droppedSamples,
        },
        'buffer full: dropped the oldest batches',
      );
      if (this.segments.includes(oldest)) await this.removeSegment(oldest, true);
    }
  }

  private segmentsBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.bytes;
    return total;
  }

  private async roll(seq: number): Promise<void> {
    await this.current.fh.close();
    const old = this.current.segment;
    await this.openSegment(seq);
    if (old.live === 0) await this.removeSegment(old, false);
  }

  private async openSegment(seq: number, existing?: Segment): Promise<void> {
    const segment = existing ?? { name: segmentName(seq), bytes: 0, live: 0 };
    const fh = await open(join(this.options.dir, segment.name), existing ? 'r+' : 'w', 0o600);
    if (!existing) {
      this.segments.push(segment);
      await syncDir(this.options.dir);
    }
    this.current = { segment, fh };
  }

  private async removeSegment(segment: Segment, dropped: boolean): Promise<void> {
    const at = this.segments.indexOf(segment);
    if (at < 0) return;
    if (!dropped) await this.writeWatermark();
    this.segments.splice(at, 1);
    await removeFile(join(this.options.dir, segment.name));
  }

  private async writeWatermark(): Promise<void> {
    this.ackedWrittenAt = this.now();
    if (this.acked === this.ackedWritten) return;
    const acked = this.acked;
    await writeFileAtomic(join(this.options.dir, 'acked'), String(acked));
    this.ackedWritten = acked;
  }

  private async recover(): Promise<void> {
    const dir = this.options.dir;
    this.acked = Number((await readFileIfExists(join(dir, 'acked')))?.trim() ?? 0) || 0;
    this.ackedWritten = this.acked;
    this.nextSeq = this.acked + 1;
    const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    for (const [i, name] of names.entries()) {
      const last = i === names.length - 1;
      const segment = await this.recoverSegment(name, last);
      if (segment.live > 0 || last) this.segments.push(segment);
      else await removeFile(join(dir, name));
    }
    const last = this.segments.at(-1);
    if (last && last.bytes < this.segmentBytes) await this.openSegment(this.nextSeq, last);
    else await this.openSegment(this.nextSeq);
    if (this.pending.size > 0 || this.totals.damagedBytes > 0) {
      this.logger.info(
        { batches: this.pending.size, samples: this.totals.samples, damagedBytes: this.totals.damagedBytes },
        'buffer recovered',
      );
    }
  }

  private async recoverSegment(name: string, last: boolean): Promise<Segment> {
    const path = join(this.options.dir, name);
    const data = await readFile(path);
    const scan = scanRecords(data);
    const segment: Segment = { name, bytes: scan.validBytes, live: 0 };
    if (scan.damaged) {
      this.totals.damagedBytes += data.length - scan.validBytes;
      this.logger.warn(
        { segment: name, damagedBytes: data.length - scan.validBytes },
        'buffer segment cut at a damaged record',
      );
      if (last) {
        const fh = await open(path, 'r+');
        await fh.truncate(scan.validBytes);
        await fh.close();
      }
    }
    for (const r of scan.records) {
      this.nextSeq = Math.max(this.nextSeq, r.seq + 1);
      if (r.seq <= this.acked) continue;
      const batch: BufferedBatch = {
        seq: r.seq,
        samples: r.samples,
        bytes: r.bytes,
        segment,
        offset: r.offset,
        body: undefined,
      };
      this.pending.set(r.seq, batch);
      segment.live++;
      this.totals.samples += r.samples;
      this.totals.bytes += r.bytes;
    }
    return segment;
  }
}
