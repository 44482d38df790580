/**
 * Building and opening BATCH messages.
 *
 * The relay builds a batch from records it stored on receipt: it passes the
 * stored bytes and their spool sequence numbers, and the payload is their
 * concatenation, raw-deflated when that makes it smaller. firstSeq, lastSeq,
 * records and the gap list are derived from the sequence numbers, so they can
 * never disagree with the payload.
 *
 * The upstream opens a batch with a hard cap on the payload's size before
 * compression (`maxInflatedBytes`, normally the maxBatchBytes it sent in
 * WELCOME), enforced while inflating, so a deflate bomb costs at most that
 * much memory. Deflate runs synchronously: about 5 ms per MiB at level 6 on
 * one core, small next to the time the bytes spend on a WAN.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { checkBatchShape } from './codec.js';
import { UplinkError, UplinkErrorCode } from './errors.js';
import type { SeqRange, UplinkBatch, UplinkMessageOf } from './messages.js';
import { decodeRecords, recordLength, toBuffer, type UplinkSequencedRecord } from './record.js';

/** Default maxBatchBytes a WELCOME offers (2 MiB before compression; about 1/8 of it on the wire for samples). */
export const UPLINK_DEFAULT_MAX_BATCH_BYTES = 2 * 1024 * 1024;

/** What a batch is made of: stored records and their sequence numbers, ascending. */
export interface BatchInput {
  /** Spool sequence numbers, strictly ascending, one per payload. */
  seqs: readonly number[];
  /** The records exactly as stored (each one encodeRecord() output). */
  payloads: readonly Uint8Array[];
  /** Samples in these records (advisory, for the upstream's accounting). */
  samples: number;
  /** True for backlog replay, false for live data. */
  replay: boolean;
}

/** Options of buildBatch. */
export interface BuildBatchOptions {
  /** Deflate the payload (kept only when it comes out smaller). */
  compress: boolean;
  /** zlib level 1-9 (default 6). */
  level?: number;
}

/** Options of openBatch. */
export interface OpenBatchOptions {
  /** Largest payload accepted before compression (default UPLINK_DEFAULT_MAX_BATCH_BYTES). */
  maxInflatedBytes?: number;
}

/** Build a BATCH message from stored records. Throws OWL_ERR_UPLINK_BAD_BATCH / BAD_RECORD / TRUNCATED on bad input. */
export function buildBatch(input: BatchInput, options: BuildBatchOptions): UplinkMessageOf<'BATCH'> {
  const { seqs, payloads, samples, replay } = input;
  if (seqs.length !== payloads.length || seqs.length === 0) {
    throw new UplinkError(
      UplinkErrorCode.BAD_BATCH,
      `batch needs one seq per payload and at least one (${seqs.length} seqs, ${payloads.length} payloads)`,
    );
  }
  const gaps: [number, number][] = [];
  let bytes = 0;
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i] as number;
    if (i > 0) {
      const previous = seqs[i - 1] as number;
      if (!(seq > previous)) throw new UplinkError(UplinkErrorCode.BAD_BATCH, `seqs not ascending at ${seq}`);
      if (seq > previous + 1) gaps.push([previous + 1, seq - 1]);
    }
    const payload = payloads[i] as Uint8Array;
    // A stored record must be exactly one record: a corrupt one is caught here, not by the upstream.
    if (payload.length === 0 || recordLength(payload) !== payload.length) {
      throw new UplinkError(UplinkErrorCode.BAD_RECORD, `stored record ${seq} is not exactly one record`);
    }
    bytes += payload.length;
  }
  const firstSeq = seqs[0] as number;
  const lastSeq = seqs[seqs.length - 1] as number;
  checkBatchShape(firstSeq, lastSeq, seqs.length, gaps);
  const raw = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const payload of payloads) {
    raw.set(payload, at);
    at += payload.length;
  }
  let payload: Buffer = raw;
  let compressed = false;
  if (options.compress) {
    const deflated = deflateRawSync(raw, { level: options.level ?? 6 });
    if (deflated.length < raw.length) {
      payload = deflated;
      compressed = true;
    }
  }
  const body: UplinkBatch = {
    firstSeq,
    lastSeq,
    records: seqs.length,
    samples,
    compressed,
    replay,
    gaps,
    payload,
  };
  return { type: 'BATCH', body };
}

/**
 * Open a decoded BATCH: inflate (bounded), decode its records and give each
 * its sequence number. Throws OWL_ERR_UPLINK_INFLATE_LIMIT, BAD_COMPRESSION,
 * BAD_RECORD, TRUNCATED or BAD_BATCH (record count differs from the header):
 * the upstream answers all of them with BATCH_ACK status REJECTED.
 */
export function openBatch(
  batch: UplinkBatch | UplinkMessageOf<'BATCH'>,
  options: OpenBatchOptions = {},
): UplinkSequencedRecord[] {
  const body: UplinkBatch = 'type' in batch ? batch.body : batch;
  const max = options.maxInflatedBytes ?? UPLINK_DEFAULT_MAX_BATCH_BYTES;
  let raw: Buffer;
  if (body.compressed) {
    try {
      raw = inflateRawSync(body.payload, { maxOutputLength: max });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new UplinkError(UplinkErrorCode.INFLATE_LIMIT, `batch inflates past ${max} bytes`, undefined, {
          cause: err,
        });
      }
      throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, 'batch payload is not raw deflate', undefined, {
        cause: err,
      });
    }
  } else {
    if (body.payload.length > max) {
      throw new UplinkError(
        UplinkErrorCode.INFLATE_LIMIT,
        `batch payload of ${body.payload.length} bytes exceeds ${max}`,
      );
    }
    raw = toBuffer(body.payload);
  }
  const records = decodeRecords(raw, body.records);
  if (records.length !== body.records) {
    throw new UplinkError(
      UplinkErrorCode.BAD_BATCH,
      `batch header says ${body.records} records, payload holds ${records.length}`,
    );
  }
  const out: UplinkSequencedRecord[] = new Array<UplinkSequencedRecord>(records.length);
  let seq = body.firstSeq;
  let gap = 0;
  for (let i = 0; i < records.length; i++) {
    const next: SeqRange | undefined = body.gaps[gap];
    if (next !== undefined && seq === next[0]) {
      seq = next[1] + 1;
      gap++;
    }
    out[i] = { ...(records[i] as UplinkSequencedRecord), seq };
    seq++;
  }
  return out;
}

/**
 * The ranges of sequence numbers a batch holds records for: [firstSeq,
 * lastSeq] minus its gaps. The upstream adds exactly these to its RangeSet
 * of stored numbers (never the gaps: a gap says "not in this batch", not
 * "does not exist"), and answers DUPLICATE when all of them are already in it.
 */
export function batchSeqRanges(batch: Pick<UplinkBatch, 'firstSeq' | 'lastSeq' | 'gaps'>): SeqRange[] {
  const out: SeqRange[] = [];
  let from = batch.firstSeq;
  for (const [first, last] of batch.gaps) {
    out.push([from, first - 1]);
    from = last + 1;
  }
  out.push([from, batch.lastSeq]);
  return out;
}
