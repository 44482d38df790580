/**
 * One buffered batch on disk: a fixed header, then the SERIESBATCH body as
 * the agent sends it, so a resend copies bytes and never re-encodes.
 *
 *   u32 BE  body length
 *   u32 BE  CRC-32 of everything after this field (seq, samples, body)
 *   u48 BE  seq
 *   u32 BE  samples in the batch (counted drops without parsing the body)
 *   body    UTF-8 JSON: {"session","seq","uuid","samples":[…]}
 *
 * A record whose length runs past the end of the file or whose CRC does not
 * match is where a crash (or a bad disk) cut the log: reading stops there.
 * Pure: no I/O.
 */

/** CRC-32 (IEEE, as zlib's), table-driven: node:zlib would cost the agent 3 MB of RSS for this alone. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export const RECORD_HEADER_BYTES = 18;
/** A batch body is at most one frame (1 MiB); anything longer is damage, not data. */
export const MAX_RECORD_BODY_BYTES = 1 << 20;

export interface RecordInfo {
  seq: number;
  samples: number;
  /** Offset of the record's header in its file. */
  offset: number;
  /** Header plus body. */
  bytes: number;
}

export function encodeRecord(seq: number, samples: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.writeUIntBE(seq, 8, 6);
  out.writeUInt32BE(samples, 14);
  body.copy(out, RECORD_HEADER_BYTES);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

/** The body of the record at `info` in `file` (a buffer holding the whole record). */
export function recordBody(record: Buffer): Buffer {
  return record.subarray(RECORD_HEADER_BYTES);
}

export interface ScanResult {
  records: RecordInfo[];
  /** Bytes of whole, valid records from the start: where an append continues. */
  validBytes: number;
  /** True when bytes past validBytes were not a valid record (torn write or damage). */
  damaged: boolean;
}

/** Every valid record in `data` (one segment file), in order, up to the first invalid one. */
export function scanRecords(data: Buffer): ScanResult {
  const records: RecordInfo[] = [];
  let offset = 0;
  while (offset + RECORD_HEADER_BYTES <= data.length) {
    const length = data.readUInt32BE(offset);
    const end = offset + RECORD_HEADER_BYTES + length;
    if (length > MAX_RECORD_BODY_BYTES || end > data.length) break;
    if (crc32(data.subarray(offset + 8, end)) !== data.readUInt32BE(offset + 4)) break;
    records.push({
      seq: data.readUIntBE(offset + 8, 6),
      samples: data.readUInt32BE(offset + 14),
      offset,
      bytes: end - offset,
    });
    offset = end;
  }
  return { records, validBytes: offset, damaged: offset !== data.length };
}
