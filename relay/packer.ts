/**
 * Agent packets → spool records, packed per event-loop turn.
 *
 * Every socket read's packets are queued here; once per turn (or sooner, at
 * the record size limit) everything queued becomes one PACKED record
 * (docs/uplink.md, section 6.1), compressed once with zstd (`ZstdCompressor`:
 * synchronous, about 2 ms for a full 1 MiB record). One spool key, one seq
 * and one compression call for what was hundreds of v3 frames from many
 * agents: with zlib, the per-call set-up cost about as much as compressing
 * 5 KB, so compressing each read alone cost more than the rest of the relay
 * together. A turn that brought a single small packet (a heartbeat) writes
 * it as a plain record.
 *
 * Order: records are handed to `write` in the order their packets were
 * added, so each agent's packets reach the spool in arrival order.
 */
import {
  encodeRecord,
  PackedEncoding,
  packedBody,
  packedPacketBytes,
  packedSectionOverhead,
  packSections,
  UPLINK_MAX_PACKED_PAYLOAD_BYTES,
  UPLINK_PACKED_TYPE,
  ZstdCompressor,
  type PackedSection,
} from '../protocol/index.js';
import type { SpoolRequest } from './agent-sink.js';
import type { SpoolRecord } from './spool/index.js';

/** Below this many payload bytes a record is not worth compressing. */
const MIN_COMPRESS_BYTES = 512;
/**
 * Shortest zstd match at the fast levels (1–4). Agent JSON carries digits
 * close to random, where 4- and 5-byte matches cost more than they save (as
 * deflate's Z_FILTERED found before): at level 3, records of fresh
 * 100-sample batches came out 10 % smaller at the same speed.
 */
const FAST_LEVEL_MIN_MATCH = 6;
/** A lone packet this large is packed anyway, to be compressed. */
const MIN_PACK_ALONE_BYTES = 1024;

export interface PackerOptions {
  /** zstd level for PACKED records (1–ZSTD_MAX_LEVEL); 0 stores them uncompressed. */
  level: number;
  /** Largest payload of one record before compression (default and maximum UPLINK_MAX_PACKED_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /** Clock for the records' receivedAtMs. */
  now: () => number;
  /** Append records to the spool; called in order; resolves once they are durable. */
  write: (records: SpoolRecord[]) => Promise<unknown>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Packer {
  /** Packets queued for the next record, in arrival order, and who waits for them. */
  private queued: SpoolRequest[] = [];
  private waiters: Waiter[] = [];
  /** Called once the queued packets are packed (see add()). */
  private releases: Array<() => void> = [];
  private queuedBytes = 0;
  private scheduled: NodeJS.Immediate | undefined;
  /** Settles once the previous flush has called write(). */
  private turn: Promise<void> = Promise.resolve();
  private readonly maxPayload: number;
  private readonly zstd: ZstdCompressor | undefined;
  /**
   * The uncompressed payload of each record is built here (it dies once compressed, or copied into
   * a RAW body): a fresh buffer per record was the relay's largest stream of garbage, as many bytes
   * per second as agents send, freed only when V8 collects.
   */
  private scratch: Buffer | undefined;

  constructor(private readonly options: PackerOptions) {
    this.maxPayload = Math.min(options.maxPayloadBytes ?? Infinity, UPLINK_MAX_PACKED_PAYLOAD_BYTES);
    const { level } = options;
    this.zstd =
      level > 0
        ? new ZstdCompressor(level <= 4 ? { level, minMatch: FAST_LEVEL_MIN_MATCH } : { level })
        : undefined;
  }

  /**
   * Queue one read's packets; resolves once the record holding them is durable. `release`, if
   * given, is called once their bytes have been copied into the record (the packets' buffers are
   * not read after that), before durability.
   */
  add(requests: readonly SpoolRequest[], release?: () => void): Promise<void> {
    const bytes = payloadBytes(requests);
    if (this.waiters.length > 0 && this.queuedBytes + bytes > this.maxPayload) this.flush();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (release !== undefined) this.releases.push(release);
    for (const r of requests) this.queued.push(r);
    this.queuedBytes += bytes;
    if (this.queuedBytes >= this.maxPayload) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
    return done;
  }

  /** Pack what is queued now. */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    // Only the callbacks wait for durability: the packets (and the socket reads their bodies
    // are views into) are copied into the record and can go once it is built.
    const requests = this.queued;
    const releases = this.releases;
    this.queued = [];
    this.waiters = [];
    this.releases = [];
    this.queuedBytes = 0;
    const ready = this.records(requests, this.options.now());
    if (releases.length > 0) {
      void ready.finally(() => {
        for (const release of releases) {
          try {
            release();
          } catch {
            // A release that fails frees nothing; the others still run.
          }
        }
      });
    }
    const called = this.turn.then(() => ready).then((records) => ({ durable: this.options.write(records) }));
    this.turn = called.then(
      () => undefined,
      () => undefined,
    );
    called
      .then(({ durable }) => durable)
      .then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (err: unknown) => {
          for (const w of waiters) w.reject(err);
        },
      );
  }

  /** Pack what is queued and wait until every record made so far has been handed to `write`. */
  async drain(): Promise<void> {
    this.flush();
    await this.turn;
  }

  /**
   * Records for `requests`, in order: PACKED ones within the payload limit, plain ones for what fits
   * no better. Async only so that a throw (a src over 255 bytes) rejects the turn's waiters.
   */
  private async records(requests: readonly SpoolRequest[], receivedAtMs: number): Promise<SpoolRecord[]> {
    const groups: SpoolRequest[][] = [];
    let group: SpoolRequest[] = [];
    let bytes = 0;
    let previous: SpoolRequest | undefined;
    for (const r of requests) {
      // A new section costs its header; packets of the same connection run share one.
      const newSection = previous === undefined || previous.source !== r.source || previous.uuid !== r.uuid;
      let size = packedPacketBytes(r) + (newSection ? packedSectionOverhead(r.source, r.uuid) : 0);
      if (group.length > 0 && bytes + size > this.maxPayload) {
        groups.push(group);
        group = [];
        bytes = 0;
        size = packedPacketBytes(r) + packedSectionOverhead(r.source, r.uuid);
      }
      group.push(r);
      bytes += size;
      previous = r;
    }
    if (group.length > 0) groups.push(group);
    return groups.map((g) => this.record(g, receivedAtMs));
  }

  private record(group: readonly SpoolRequest[], receivedAtMs: number): SpoolRecord {
    const first = group[0] as SpoolRequest;
    let samples = 0;
    for (const r of group) samples += r.samples;
    const alone = group.length === 1;
    if (
      alone &&
      first.frames === undefined &&
      (first.body.length < MIN_PACK_ALONE_BYTES || this.options.level === 0 || !fits(first, this.maxPayload))
    ) {
      const { type, source: src, uuid, body } = first;
      return { payload: encodeRecord({ receivedAtMs, type, src, uuid, body }), samples };
    }
    this.scratch ??= Buffer.allocUnsafe(this.maxPayload);
    const payload = packSections(sections(group), this.scratch);
    let body: Buffer | undefined;
    if (this.zstd !== undefined && payload.length >= MIN_COMPRESS_BYTES) {
      // Room for the encoding byte in front, so the body is not copied again.
      const compressed = this.zstd.compress(payload, 1);
      if (compressed.length <= payload.length) {
        compressed[0] = PackedEncoding.ZSTD;
        body = compressed;
      }
    }
    // The raw form only when compression did not pay: it copies the whole payload.
    body ??= packedBody(PackedEncoding.RAW, payload);
    return {
      payload: encodeRecord({ receivedAtMs, type: UPLINK_PACKED_TYPE, src: '', uuid: '', body }),
      samples,
    };
  }
}

/** Payload bytes of one read's packets (one connection: one section, give or take a uuid change). */
function payloadBytes(requests: readonly SpoolRequest[]): number {
  let n = 0;
  for (const r of requests) n += packedPacketBytes(r);
  const first = requests[0];
  return first === undefined ? n : n + packedSectionOverhead(first.source, first.uuid);
}

function fits(r: SpoolRequest, maxPayload: number): boolean {
  return packedPacketBytes(r) + packedSectionOverhead(r.source, r.uuid) <= maxPayload;
}

/** Runs of packets with the same source and uuid (one connection's read, mostly). */
function sections(requests: readonly SpoolRequest[]): PackedSection[] {
  const out: { src: string; uuid: string; packets: SpoolRequest[] }[] = [];
  let current: { src: string; uuid: string; packets: SpoolRequest[] } | undefined;
  for (const r of requests) {
    if (current === undefined || current.src !== r.source || current.uuid !== r.uuid) {
      current = { src: r.source, uuid: r.uuid, packets: [] };
      out.push(current);
    }
    current.packets.push(r);
  }
  return out;
}
