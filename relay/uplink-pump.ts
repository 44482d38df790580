/**
 * The uplink's batch pump: reads the spool and sends BATCHes within the
 * granted window, and settles their acks (docs/uplink.md sections 5.6, 7, 9).
 *
 * At each (re)connect the spool splits in two: records below `liveFrom` (the
 * spool's durable end at connect time) are backlog, sent oldest first with
 * the replay flag; records from `liveFrom` on are live, served from the
 * in-memory tail. When both are ready the pump alternates between them, so
 * live data is never queued behind a backlog of any size, and the backlog
 * always progresses. A batch is handed to the socket only while its buffered
 * bytes are under a threshold, so a config answer waits behind at most that
 * much data. An acknowledged batch is released from the spool; after a
 * reconnect everything unreleased is sent again and the upstream drops what
 * it already has.
 *
 * Drop accounting: records the spool drops by its cap while their batch is
 * in flight, and that the upstream then acknowledges, were delivered; what a
 * release did not find is reported (`onDeliveredAfterDrop`). A new
 * connection sends nothing while releases asked on earlier ones are pending,
 * else it would read, and send again, records already acknowledged.
 */
import WebSocket from 'ws';
import {
  BatchAckStatus,
  buildBatch,
  CreditWindow,
  encodeUplinkMessage,
  isCompressedPacked,
  type TimerHandle,
  type Timers,
} from '../protocol/index.js';
import { deflateOffThread } from './deflate.js';
import type { DrainProgress } from './drain-progress.js';
import type { Released, Spool, SpoolEntry } from './spool/index.js';
import { LiveTail } from './uplink-tail.js';
import type { UplinkClientOptions, UplinkLogger } from './uplink-client.js';

interface PumpOptions extends Pick<
  UplinkClientOptions,
  | 'batch'
  | 'tailBytes'
  | 'liveLagBytes'
  | 'maxBufferedBytes'
  | 'onLiveLag'
  | 'onBatchAck'
  | 'onBatchSent'
  | 'onDeliveredAfterDrop'
> {
  spool: Spool;
  log: UplinkLogger;
  /** The connection batches go to: the current one once WELCOMEd, else undefined. */
  link: () => WebSocket | undefined;
  /** A batch over [first, last] was acknowledged (any status). */
  onAcked: (first: number, last: number) => void;
  /** Told of the backlog's acknowledged replay batches, and when none of it is left. */
  drain: DrainProgress;
  timers: Timers;
}

interface BatchInFlight {
  records: number;
  samples: number;
  /** Payload bytes (as spooled), and whether it is backlog (replay). */
  bytes: number;
  replay: boolean;
  /** The batch's seqs, ascending, and the samples of its first i + 1 records (what the spool drops of it is a prefix). */
  seqs: number[];
  samplesUpTo: number[];
}

export class BatchPump {
  private readonly credit = new CreditWindow(0);
  private readonly inFlight = new Map<number, BatchInFlight>();
  /** Batches acknowledged STORED or DUPLICATE whose release has not settled yet. */
  private readonly releasing = new Set<BatchInFlight>();
  /** Connections so far (counted at WELCOME), and the releases not settled yet per connection that asked. */
  private connections = 0;
  private readonly unsettled = new Map<number, number>();
  private readonly tail: LiveTail;
  private maxBatchBytes: number;
  private maxBatchSamples: number;
  /** One past the highest seq sent by this process: a batch starting below it is a resend. */
  private sentBelow = 0;
  private replayCursor = 0;
  /** Replay batches of this connection not acknowledged yet. */
  private replayInFlight = 0;
  private liveFrom = 0;
  private liveCursor = 0;
  private preferLive = true;
  private behind = false;
  /** One past the highest sequence number known durable: only durable records are read. */
  private durableNext: number;
  private pumping = false;
  private again = false;
  private lingerTimer: TimerHandle | undefined;

  constructor(private readonly options: PumpOptions) {
    this.tail = new LiveTail(options.tailBytes ?? 16 * 1024 * 1024);
    this.maxBatchBytes = options.batch.maxBytes;
    this.maxBatchSamples = options.batch.maxSamples ?? Infinity;
    this.durableNext = options.spool.nextSeq();
  }

  /** Batches sent and not yet acknowledged. */
  get inFlightBatches(): number {
    return this.credit.pending;
  }

  get window(): number {
    return this.credit.window;
  }

  /**
   * Records (samples) the spool dropped by a cap from batches not settled yet (in flight, or
   * acknowledged STORED/DUPLICATE and being released): whether they reach the upstream is not
   * known yet. Below spool.firstSeq() every record was released or dropped, and these were not
   * released. (A RocksSpool on this thread applies a release a little before it settles; while it
   * does, its records count here too. A WorkerSpool's state changes with the answer.)
   */
  get droppedInFlight(): Released {
    const first = this.options.spool.firstSeq();
    const out: Released = { records: 0, samples: 0 };
    const count = (b: BatchInFlight): void => {
      const k = countBelow(b.seqs, first);
      if (k === 0) return;
      out.records += k;
      out.samples += b.samplesUpTo[k - 1]!;
    };
    for (const b of this.inFlight.values()) count(b);
    for (const b of this.releasing) count(b);
    return out;
  }

  /** Records up to `last` are durable in the spool: send them soon. */
  appended(last: number, entries?: readonly SpoolEntry[]): void {
    if (entries !== undefined) {
      this.tail.remember(entries, this.liveCursor);
      this.reportLag();
    }
    if (last + 1 > this.durableNext) this.durableNext = last + 1;
    if (this.options.link() === undefined) return;
    const pending = this.durableNext - this.liveCursor;
    if (pending >= this.options.batch.maxRecords || this.options.batch.lingerMs === 0) {
      this.pump();
    } else if (this.lingerTimer === undefined) {
      this.lingerTimer = this.options.timers.setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump();
      }, this.options.batch.lingerMs);
    }
  }

  /** WELCOME: a new connection with its window and limits. Returns the backlog (records below live). */
  connected(window: number, maxBatchBytes: number, maxBatchSamples: number | undefined): number {
    const { batch, spool } = this.options;
    this.maxBatchBytes = Math.min(batch.maxBytes, maxBatchBytes);
    this.maxBatchSamples = Math.min(batch.maxSamples ?? Infinity, maxBatchSamples ?? Infinity);
    this.connections++;
    this.credit.reset(window);
    this.inFlight.clear();
    this.replayInFlight = 0;
    this.replayCursor = spool.firstSeq();
    this.liveFrom = this.durableNext;
    this.liveCursor = this.liveFrom;
    return this.liveFrom - this.replayCursor;
  }

  /** CREDIT: the window changed. */
  setWindow(window: number): void {
    this.credit.setWindow(window);
    this.pump();
  }

  /** The connection is gone: nothing is in flight on it any more. */
  disconnected(): void {
    this.credit.reset(0);
    this.inFlight.clear();
    this.replayInFlight = 0;
    if (this.behind) {
      this.behind = false;
      this.options.onLiveLag?.(false);
    }
  }

  stop(): void {
    this.options.timers.clearTimeout(this.lingerTimer);
  }

  ack(firstSeq: number, lastSeq: number, status: BatchAckStatus): void {
    const batch = this.inFlight.get(firstSeq);
    if (!this.credit.onAck(firstSeq, lastSeq) || batch === undefined) return; // not ours (an old connection's)
    this.inFlight.delete(firstSeq);
    if (batch.replay) {
      this.replayInFlight--;
      this.options.drain.acked(batch.records, batch.bytes);
      this.checkDrained();
    }
    if (status === BatchAckStatus.REJECTED) {
      this.options.log.error({ firstSeq, lastSeq }, 'upstream rejected a batch; dropping it');
    } else {
      this.releasing.add(batch);
    }
    this.options.onBatchAck?.(status, batch.records, batch.samples);
    this.options.onAcked(firstSeq, lastSeq);
    const connection = this.connections;
    this.unsettled.set(connection, (this.unsettled.get(connection) ?? 0) + 1);
    this.options.spool.release(firstSeq, lastSeq).then(
      (removed) => {
        this.settled(connection);
        this.released(batch, removed);
      },
      (err: unknown) => {
        this.settled(connection);
        this.releasing.delete(batch);
        this.options.log.error({ err: (err as Error).message }, 'spool release failed');
      },
    );
    this.pump();
  }

  /** Send batches while credit and socket room allow. Serialized: one pass at a time. */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    const ws = this.options.link();
    this.pumpLoop().then(
      () => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      },
      (err: unknown) => {
        this.pumping = false;
        this.options.log.error({ err: (err as Error).message }, 'uplink send failed');
        ws?.terminate(); // the connection this pass served, never a newer one
      },
    );
  }

  /** A release settled (see the design comment on new connections). */
  private settled(connection: number): void {
    const left = (this.unsettled.get(connection) ?? 1) - 1;
    if (left > 0) this.unsettled.set(connection, left);
    else this.unsettled.delete(connection);
    if (connection < this.connections) this.pump();
  }

  private releasesPendingFromEarlierConnections(): boolean {
    for (const connection of this.unsettled.keys()) if (connection < this.connections) return true;
    return false;
  }

  /**
   * An acknowledged batch was released. What the release did not remove of it, the spool had
   * dropped while the batch was in flight. No other release covers its records: the batches of
   * one connection do not overlap, a new connection sends only once the releases asked on earlier
   * ones settled (see settled()), and the in-memory tail holds no record sent on an earlier
   * connection that was acknowledged while an older one was not (the upstream acks in order).
   * After STORED or DUPLICATE those records were delivered; after REJECTED they are lost.
   */
  private released(batch: BatchInFlight, removed: Released): void {
    if (!this.releasing.delete(batch)) return; // REJECTED
    const records = batch.records - removed.records;
    if (records > 0) this.options.onDeliveredAfterDrop?.(records, batch.samples - removed.samples);
  }

  private async pumpLoop(): Promise<void> {
    const threshold = this.options.maxBufferedBytes ?? 1024 * 1024;
    for (;;) {
      const ws = this.options.link();
      if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
      if (!this.credit.canSend() || ws.bufferedAmount > threshold) return;
      if (this.releasesPendingFromEarlierConnections()) return;
      this.again = false;
      const liveReady = this.liveCursor < this.durableNext;
      const replayReady = this.replayCursor < this.liveFrom;
      if (!liveReady && !replayReady) return;
      const useLive = liveReady && (!replayReady || this.preferLive);
      this.preferLive = !useLive;
      const entries = useLive
        ? await this.take(this.liveCursor, this.durableNext)
        : await this.take(this.replayCursor, this.liveFrom);
      // The connection changed while reading: the new one has its own cursors and credit.
      if (this.options.link() !== ws) return;
      const next = entries.length === 0 ? undefined : (entries[entries.length - 1] as SpoolEntry).seq + 1;
      if (useLive) {
        this.liveCursor = next ?? this.durableNext; // none: dropped by the spool cap meanwhile
        this.tail.trim(this.liveCursor);
        this.reportLag();
      } else {
        this.replayCursor = next ?? this.liveFrom;
        // Nothing left to read of it (the spool's cap dropped the rest): done once the batches in flight are acked.
        if (next === undefined) this.checkDrained();
      }
      if (entries.length > 0) await this.sendBatch(ws, entries, !useLive);
    }
  }

  /** The whole backlog was sent and acknowledged (what the spool dropped of it meanwhile, skipped). */
  private checkDrained(): void {
    if (this.replayCursor >= this.liveFrom && this.replayInFlight === 0) this.options.drain.done();
  }

  /** Live data waiting in the tail beyond the limit, while connected: the uplink is behind. */
  private reportLag(): void {
    const behind =
      this.options.link() !== undefined && this.tail.bytes > (this.options.liveLagBytes ?? 8 * 1024 * 1024);
    if (behind !== this.behind) {
      this.behind = behind;
      this.options.onLiveLag?.(behind);
    }
  }

  /** The next batch's worth of entries from `from`, below `below`, within the limits. */
  private async take(from: number, below: number): Promise<SpoolEntry[]> {
    const { spool, batch } = this.options;
    // Below firstSeq() everything was released or dropped by the spool cap (and counted as
    // dropped): the tail may still hold it, but it must not be sent as well.
    from = Math.max(from, spool.firstSeq());
    const held = this.tail.take(from, below, batch.maxRecords, this.batchLimit());
    if (held !== undefined) return held;
    const read = await spool.read(from, { maxRecords: batch.maxRecords, maxBytes: this.maxBatchBytes });
    const out: SpoolEntry[] = [];
    const fits = this.batchLimit();
    for (const entry of read) {
      if (entry.seq >= below || !fits(entry)) break;
      out.push(entry);
    }
    return out;
  }

  /** A test whether the next entry still fits a batch by bytes and samples (the first always does). */
  private batchLimit(): (entry: SpoolEntry) => boolean {
    let bytes = 0;
    let samples = 0;
    let first = true;
    return (entry) => {
      bytes += entry.payload.length;
      samples += entry.samples;
      const fits = first || (bytes <= this.maxBatchBytes && samples <= this.maxBatchSamples);
      first = false;
      return fits;
    };
  }

  /**
   * Send one batch. Its credit is taken at once; the payload is deflated on
   * libuv's thread pool, so the event loop keeps serving agents meanwhile.
   */
  private async sendBatch(ws: WebSocket, entries: SpoolEntry[], replay: boolean): Promise<void> {
    let samples = 0;
    let bytes = 0;
    const samplesUpTo = entries.map((e) => {
      bytes += e.payload.length;
      return (samples += e.samples);
    });
    const seqs = entries.map((e) => e.seq);
    let msg = buildBatch(
      { seqs, payloads: entries.map((e) => e.payload), samples, replay },
      { compress: false },
    );
    const first = msg.body.firstSeq;
    this.credit.onSent(first, msg.body.lastSeq);
    this.inFlight.set(first, { records: entries.length, samples, bytes, replay, seqs, samplesUpTo });
    if (replay) this.replayInFlight++;
    const resent = first < this.sentBelow;
    this.sentBelow = Math.max(this.sentBelow, msg.body.lastSeq + 1);
    const { compress, level } = this.options.batch;
    if (compress && !mostlyCompressed(entries)) {
      const raw = msg.body.payload;
      const deflated = await deflateOffThread(raw, level ?? 6);
      if (this.options.link() !== ws) return; // that connection is gone; its batches are resent on the next
      if (deflated.length < raw.length)
        msg = { type: 'BATCH', body: { ...msg.body, payload: deflated, compressed: true } };
    }
    ws.send(encodeUplinkMessage(msg));
    this.options.onBatchSent?.(replay, entries.length, samples, resent);
  }
}

/** How many of the ascending `seqs` are below `seq`. */
function countBelow(seqs: readonly number[], seq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqs[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when at least 90% of the bytes are already-compressed PACKED records: deflating the batch would gain nothing. */
function mostlyCompressed(entries: readonly SpoolEntry[]): boolean {
  let total = 0;
  let compressed = 0;
  for (const e of entries) {
    total += e.payload.length;
    if (isCompressedPacked(e.payload)) compressed += e.payload.length;
  }
  return compressed >= total * 0.9;
}
