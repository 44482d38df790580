import { deflateRawSync } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import {
  decodeRecords,
  encodeRecord,
  isCompressedPacked,
  OwlError,
  PackedEncoding,
  packedBody,
  packSections,
  PacketType,
  unpackSections,
  UPLINK_MAX_PACKED_PAYLOAD_BYTES,
  UPLINK_PACKED_TYPE,
  UplinkErrorCode,
  ZstdCompressor,
} from '../../protocol/index.js';
import { packetBody, v3Sample } from '../helpers/v3-sample.js';

const sample = (value: number) =>
  packetBody(
    PacketType.SERIESDATA,
    v3Sample({ uuid: 'a'.repeat(32), ip: '10.0.0.1', group: 'web', timestamp: 1_718_000_000, value }),
  );

const packets = Array.from({ length: 50 }, (_, i) => ({
  type: PacketType.SERIESDATA as number,
  body: sample(i),
}));

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof OwlError ? err.code : `not coded: ${String(err)}`;
  }
};

const sections = [
  { src: '10.0.0.1:4000', uuid: '', packets: packets.slice(0, 20) },
  { src: '10.0.0.2:4001', uuid: 'u'.repeat(32), packets: packets.slice(20, 21) },
  { src: '', uuid: '', packets: packets.slice(21) },
  { src: 'é', uuid: 'x', packets: [] },
];
const flat = (
  ss: readonly { src: string; uuid: string; packets: readonly { type: number; body: Uint8Array }[] }[],
) => ss.map((x) => [x.src, x.uuid, x.packets.map((p) => [p.type, Buffer.from(p.body).toString()])]);
const packFrames = (ps: typeof packets) => packSections([{ src: 's', uuid: '', packets: ps }]);
const unpackFrames = (body: Uint8Array) => unpackSections(body).flatMap((x) => x.frames);
const zstd = (payload: Uint8Array, level = 1) => new ZstdCompressor({ level }).compress(payload);

test('packed sections come back as the same sources and packets, raw, deflated and zstd', (t) => {
  const payload = packSections(sections);
  for (const body of [
    packedBody(PackedEncoding.RAW, payload),
    packedBody(PackedEncoding.DEFLATE, deflateRawSync(payload)),
    packedBody(PackedEncoding.ZSTD, zstd(payload)),
    packedBody(PackedEncoding.ZSTD, zstd(payload, 19)),
  ]) {
    const out = unpackSections(body).map((x) => ({ src: x.src, uuid: x.uuid, packets: x.frames }));
    t.deepEqual(flat(out), flat(sections));
  }
  t.is(
    code(() => packSections([{ src: 'a'.repeat(256), uuid: '', packets }])),
    UplinkErrorCode.BAD_RECORD,
    'a src over 255 bytes',
  );
});

test('a compressed PACKED record is recognised as such; plain and raw-packed records are not', (t) => {
  const frames = packFrames(packets);
  const rec = (type: number, body: Buffer, src = '10.0.0.1:4000', uuid = 'u') =>
    encodeRecord({ receivedAtMs: 1, type, src, uuid, body });
  t.true(
    isCompressedPacked(rec(UPLINK_PACKED_TYPE, packedBody(PackedEncoding.DEFLATE, deflateRawSync(frames)))),
  );
  t.true(isCompressedPacked(rec(UPLINK_PACKED_TYPE, packedBody(1, deflateRawSync(frames)), '', '')));
  t.true(isCompressedPacked(rec(UPLINK_PACKED_TYPE, packedBody(PackedEncoding.ZSTD, zstd(frames)), '', '')));
  t.false(isCompressedPacked(rec(UPLINK_PACKED_TYPE, packedBody(PackedEncoding.RAW, frames))));
  t.false(isCompressedPacked(rec(PacketType.SERIESDATA, Buffer.from([1, 2, 3]))));
  t.false(isCompressedPacked(rec(UPLINK_PACKED_TYPE, Buffer.alloc(0))));
  // A PACKED record is an ordinary record to the record layer.
  const [decoded] = decodeRecords(rec(UPLINK_PACKED_TYPE, packedBody(PackedEncoding.RAW, frames)));
  t.is(decoded?.type, UPLINK_PACKED_TYPE);
});

test('bad PACKED bodies are refused with a code', (t) => {
  const frames = packFrames(packets);
  t.is(
    code(() => unpackFrames(Buffer.alloc(0))),
    UplinkErrorCode.BAD_RECORD,
    'no encoding byte',
  );
  t.is(
    code(() => unpackFrames(packedBody(7 as PackedEncoding, frames))),
    UplinkErrorCode.BAD_RECORD,
  );
  for (let cut = 1; cut < 60; cut += 7) {
    t.is(
      code(() => unpackFrames(packedBody(PackedEncoding.RAW, frames.subarray(0, frames.length - cut)))),
      UplinkErrorCode.BAD_RECORD,
      `cut ${cut} bytes before the end`,
    );
  }
  const inner = Buffer.from(frames);
  inner.writeUInt32BE(inner.readUInt32BE(3) - 2, 3); // the section is longer than its frames say
  t.is(
    code(() => unpackFrames(packedBody(PackedEncoding.RAW, inner))),
    UplinkErrorCode.BAD_RECORD,
  );
  t.is(
    code(() => unpackFrames(packedBody(PackedEncoding.RAW, Buffer.from([0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 4])))),
    UplinkErrorCode.BAD_RECORD,
    'empty frame',
  );
  t.is(
    code(() => unpackFrames(packedBody(PackedEncoding.DEFLATE, Buffer.from('not deflate at all')))),
    UplinkErrorCode.BAD_COMPRESSION,
  );
  // A deflate bomb: more than the cap of zeros compresses to a few KB.
  const bomb = deflateRawSync(Buffer.alloc(UPLINK_MAX_PACKED_PAYLOAD_BYTES + 1));
  t.true(bomb.length < 8192);
  t.is(
    code(() => unpackFrames(packedBody(PackedEncoding.DEFLATE, bomb))),
    UplinkErrorCode.INFLATE_LIMIT,
  );
});

test('bad zstd PACKED bodies are refused with a code, a zstd bomb before it is decoded', (t) => {
  const frames = packFrames(packets);
  const good = zstd(frames);
  const bad = (payload: Uint8Array) => code(() => unpackFrames(packedBody(PackedEncoding.ZSTD, payload)));
  t.is(bad(Buffer.from('not zstd at all')), UplinkErrorCode.BAD_COMPRESSION);
  t.is(bad(good.subarray(0, good.length - 3)), UplinkErrorCode.BAD_COMPRESSION, 'cut frame');
  t.is(bad(Buffer.concat([good, good])), UplinkErrorCode.BAD_COMPRESSION, 'two frames');
  t.is(bad(Buffer.concat([good, Buffer.from([0])])), UplinkErrorCode.BAD_COMPRESSION, 'trailing byte');
  // The frame header's content size (byte 5 with contentSizeFlag and a single segment) made to lie.
  const lying = Buffer.from(good);
  t.is(lying[4]! & 0xe0, 0x20 | (lying[4]! & 0xc0), 'single segment, content size present');
  const stated = lying.readUInt16LE(5) + (lying[4]! >> 6 === 1 ? 256 : 0);
  t.is(stated, frames.length, 'the header states the content size');
  lying.writeUInt16LE(lying.readUInt16LE(5) - 10, 5);
  t.is(bad(lying), UplinkErrorCode.BAD_COMPRESSION, 'content longer than stated');
  lying.writeUInt16LE(lying.readUInt16LE(5) + 20, 5);
  t.is(bad(lying), UplinkErrorCode.BAD_COMPRESSION, 'content shorter than stated');
  // A zstd bomb: more than the cap of zeros compresses to a few bytes, and says so in its header.
  const bomb = zstd(Buffer.alloc(UPLINK_MAX_PACKED_PAYLOAD_BYTES + 1));
  t.true(bomb.length < 1024);
  t.is(bad(bomb), UplinkErrorCode.INFLATE_LIMIT);
  t.is(
    bad(zstd(Buffer.alloc(UPLINK_MAX_PACKED_PAYLOAD_BYTES))),
    UplinkErrorCode.BAD_RECORD,
    'at the cap: decoded, then refused as frames',
  );
});

test('random PACKED bodies give frames or a coded error, never another exception', (t) => {
  const valid = packedBody(PackedEncoding.RAW, packFrames(packets.slice(0, 3)));
  const deflated = packedBody(PackedEncoding.DEFLATE, deflateRawSync(packFrames(packets.slice(0, 3))));
  const zstdBody = packedBody(PackedEncoding.ZSTD, zstd(packFrames(packets.slice(0, 3))));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc
          .tuple(fc.constantFrom(valid, deflated, zstdBody), fc.nat(), fc.integer({ min: 0, max: 255 }))
          .map(([b, at, byte]) => {
            const copy = Buffer.from(b);
            copy[at % copy.length] = byte;
            return copy;
          }),
      ),
      (bytes) => {
        const c = code(() => unpackFrames(bytes));
        return c === undefined || c.startsWith('OWL_ERR_UPLINK_');
      },
    ),
    { numRuns: 3000, interruptAfterTimeLimit: 5000 },
  );
  t.pass();
});
