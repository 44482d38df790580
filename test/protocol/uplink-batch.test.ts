/**
 * Uplink records and batches: the record codec, buildBatch/openBatch with
 * and without compression, gaps, the inflate-bomb guard, and that broken
 * payloads are coded errors.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  buildBatch,
  decodeRecords,
  decodeUplinkMessage,
  encodeRecord,
  encodeUplinkMessage,
  openBatch,
  PacketType,
  recordLength,
  UPLINK_MAX_RECORD_BODY_BYTES,
  UPLINK_RECORD_OVERHEAD,
  UplinkError,
  UplinkErrorCode,
  type UplinkBatch,
  type UplinkRecord,
} from '../../protocol/index.js';

function throwsCode(t: ExecutionContext, fn: () => unknown, code: UplinkErrorCode): void {
  const err = t.throws(fn);
  t.true(err instanceof UplinkError, `expected UplinkError, got ${String(err)}`);
  t.is((err as UplinkError).code, code);
}

function sample(i: number): UplinkRecord {
  const body = JSON.stringify({
    uuid: '5d41402abc4b2a76b9719d911017c592',
    ip: '10.1.0.23',
    timestamp: 1718000000 + i,
    service_name: 'cpu',
    metric: 'cpu.user',
    value: i / 7,
  });
  return {
    receivedAtMs: 1718000000000 + i,
    type: PacketType.SERIESDATA,
    src: '10.1.0.23:40312',
    uuid: i % 2 === 0 ? '' : '5d41402abc4b2a76b9719d911017c592',
    body: Buffer.from(body),
  };
}

test('a record encodes to the documented layout and decodes back', (t) => {
  const record: UplinkRecord = {
    receivedAtMs: 2 ** 40 + 5,
    type: 13,
    src: '[fe80::1]:40000',
    uuid: 'ü',
    body: Buffer.from('{"uuid":"x"}'),
  };
  const bytes = encodeRecord(record);
  const srcLen = Buffer.byteLength(record.src);
  t.is(bytes.length, UPLINK_RECORD_OVERHEAD + srcLen + 2 + record.body.length);
  t.is(bytes.readUInt32BE(0), bytes.length - 4);
  t.is(bytes.readBigUInt64BE(4), BigInt(record.receivedAtMs));
  t.is(bytes[12], 13);
  t.is(bytes[13], srcLen);
  t.is(bytes[14 + srcLen], 2);
  t.is(recordLength(bytes), bytes.length);
  t.deepEqual(decodeRecords(bytes), [record]);
  // Empty src, uuid and body are valid.
  const empty: UplinkRecord = { receivedAtMs: 0, type: 0, src: '', uuid: '', body: Buffer.alloc(0) };
  t.is(encodeRecord(empty).length, UPLINK_RECORD_OVERHEAD);
  t.deepEqual(decodeRecords(encodeRecord(empty)), [empty]);
});

test('encodeRecord refuses what the layout cannot hold', (t) => {
  const ok = sample(1);
  throwsCode(t, () => encodeRecord({ ...ok, src: 'x'.repeat(256) }), UplinkErrorCode.BAD_RECORD);
  throwsCode(t, () => encodeRecord({ ...ok, uuid: 'é'.repeat(128) }), UplinkErrorCode.BAD_RECORD);
  throwsCode(t, () => encodeRecord({ ...ok, type: 256 }), UplinkErrorCode.BAD_RECORD);
  throwsCode(t, () => encodeRecord({ ...ok, receivedAtMs: -1 }), UplinkErrorCode.BAD_RECORD);
  throwsCode(t, () => encodeRecord({ ...ok, receivedAtMs: 1.5 }), UplinkErrorCode.BAD_RECORD);
  throwsCode(
    t,
    () => encodeRecord({ ...ok, body: Buffer.alloc(UPLINK_MAX_RECORD_BODY_BYTES + 1) }),
    UplinkErrorCode.BAD_RECORD,
  );
  t.notThrows(() =>
    encodeRecord({ ...ok, src: 'x'.repeat(255), body: Buffer.alloc(UPLINK_MAX_RECORD_BODY_BYTES) }),
  );
});

test('decodeRecords reports cut and malformed records with codes', (t) => {
  const first = encodeRecord(sample(1));
  const two = Buffer.concat([first, encodeRecord(sample(2))]);
  t.is(decodeRecords(two).length, 2);
  for (let n = 1; n < two.length; n++) {
    if (n === first.length) continue; // a whole first record
    const err = t.throws(() => decodeRecords(two.subarray(0, n)));
    t.true(err instanceof UplinkError, `prefix ${n}`);
  }
  throwsCode(t, () => decodeRecords(two.subarray(0, 3)), UplinkErrorCode.TRUNCATED);
  // len smaller than the fixed fields.
  const short = Buffer.from(two);
  short.writeUInt32BE(5, 0);
  throwsCode(t, () => decodeRecords(short), UplinkErrorCode.BAD_RECORD);
  // srcLen running past the record.
  const src = encodeRecord(sample(1));
  src[13] = 250;
  throwsCode(t, () => decodeRecords(src), UplinkErrorCode.BAD_RECORD);
  // uuidLen running past the record.
  const uuid = encodeRecord({ ...sample(2), body: Buffer.alloc(0) });
  uuid[14 + (uuid[13] as number)] = 200;
  throwsCode(t, () => decodeRecords(uuid), UplinkErrorCode.BAD_RECORD);
  // receivedAtMs past 2^53.
  const time = encodeRecord(sample(1));
  time.writeUInt32BE(0x200000, 4);
  throwsCode(t, () => decodeRecords(time), UplinkErrorCode.BAD_RECORD);
  // Huge length prefix.
  const huge = Buffer.from(two);
  huge.writeUInt32BE(0xfffffff0, 0);
  throwsCode(t, () => decodeRecords(huge), UplinkErrorCode.BAD_RECORD);
  // More records than allowed.
  throwsCode(t, () => decodeRecords(two, 1), UplinkErrorCode.BAD_BATCH);
});

test('random record payloads decode or give an UplinkError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        decodeRecords(bytes);
      } catch (err) {
        if (!(err instanceof UplinkError)) throw err;
      }
    }),
    { interruptAfterTimeLimit: 2000, numRuns: 10_000 },
  );
  t.pass();
});

/** Build, encode, decode and open: what the upstream sees. */
function roundTrip(seqs: number[], records: UplinkRecord[], compress: boolean, replay = false) {
  const message = buildBatch(
    { seqs, payloads: records.map(encodeRecord), samples: records.length, replay },
    { compress },
  );
  const decoded = decodeUplinkMessage(encodeUplinkMessage(message), { from: 'relay' });
  if (decoded.type !== 'BATCH') throw new Error('not a BATCH');
  return { sent: message.body, received: decoded.body, opened: openBatch(decoded) };
}

for (const compress of [false, true]) {
  test(`batch round trip, ${compress ? 'compressed' : 'uncompressed'}, dense and with gaps`, (t) => {
    const records = Array.from({ length: 50 }, (_, i) => sample(i));
    const dense = roundTrip(
      records.map((_, i) => 100 + i),
      records,
      compress,
      true,
    );
    t.is(dense.received.compressed, compress);
    t.true(dense.received.replay);
    t.deepEqual(dense.received.gaps, []);
    t.is(dense.received.firstSeq, 100);
    t.is(dense.received.lastSeq, 149);
    t.deepEqual(
      dense.opened,
      records.map((r, i) => ({ ...r, seq: 100 + i })),
    );

    const seqs = records.map((_, i) => 10 + i + (i >= 10 ? 5 : 0) + (i >= 30 ? 1 : 0));
    const sparse = roundTrip(seqs, records, compress);
    t.false(sparse.received.replay);
    t.deepEqual(sparse.received.gaps, [
      [20, 24],
      [45, 45],
    ]);
    t.deepEqual(
      sparse.opened,
      records.map((r, i) => ({ ...r, seq: seqs[i] as number })),
    );
  });
}

test('compression is skipped when it does not shrink the payload', (t) => {
  // Incompressible bytes: a SHA-256 chain.
  const noise = Buffer.concat(
    Array.from({ length: 64 }, (_, i) => createHash('sha256').update(String(i)).digest()),
  );
  const record = { ...sample(1), body: noise };
  const plain = roundTrip([1], [record], true);
  t.false(plain.received.compressed);
  const text = roundTrip([1, 2, 3], [sample(1), sample(2), sample(3)], true);
  t.true(text.received.compressed);
  t.true(text.received.payload.length < text.opened.reduce((n, r) => n + encodeRecord(r).length, 0));
});

test('batch round trip holds for random sequences and records', (t) => {
  const record = fc.record({
    receivedAtMs: fc.maxSafeNat(),
    type: fc.integer({ min: 0, max: 255 }),
    src: fc.string({ maxLength: 40 }),
    uuid: fc.string({ maxLength: 40 }),
    body: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  });
  const input = fc
    .tuple(
      fc.maxSafeNat(),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), record), { minLength: 1, maxLength: 30 }),
    )
    .filter(([start, steps]) => start + steps.reduce((n, [step]) => n + step, 0) <= Number.MAX_SAFE_INTEGER);
  fc.assert(
    fc.property(input, fc.boolean(), ([start, steps], compress) => {
      let seq = start;
      const seqs = steps.map(([step]) => (seq += step));
      const records = steps.map(([, r]) => r);
      const { opened } = roundTrip(seqs, records, compress);
      t.deepEqual(
        opened,
        records.map((r, i) => ({ ...r, seq: seqs[i] as number })),
      );
    }),
    { interruptAfterTimeLimit: 3000, numRuns: 500 },
  );
});

test('buildBatch refuses inconsistent input', (t) => {
  const payloads = [encodeRecord(sample(1)), encodeRecord(sample(2))];
  const base = { samples: 2, replay: false };
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [1], payloads }, { compress: false }),
    UplinkErrorCode.BAD_BATCH,
  );
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [], payloads: [] }, { compress: false }),
    UplinkErrorCode.BAD_BATCH,
  );
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [2, 2], payloads }, { compress: false }),
    UplinkErrorCode.BAD_BATCH,
  );
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [3, 2], payloads }, { compress: false }),
    UplinkErrorCode.BAD_BATCH,
  );
  // A stored record that is cut or has trailing bytes is caught before sending.
  const cut = [payloads[0] as Buffer, (payloads[1] as Buffer).subarray(0, 20)];
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [1, 2], payloads: cut }, { compress: true }),
    UplinkErrorCode.TRUNCATED,
  );
  const long = [payloads[0] as Buffer, Buffer.concat([payloads[1] as Buffer, Buffer.alloc(1)])];
  throwsCode(
    t,
    () => buildBatch({ ...base, seqs: [1, 2], payloads: long }, { compress: true }),
    UplinkErrorCode.BAD_RECORD,
  );
});

/** A BATCH body for hand-made payloads. */
function body(payload: Buffer, compressed: boolean, records = 1): UplinkBatch {
  return { firstSeq: 1, lastSeq: records, records, samples: 0, compressed, replay: false, gaps: [], payload };
}

test('an inflate bomb stops at maxInflatedBytes', (t) => {
  // 16 MiB of records that deflate to a few KiB.
  const one = encodeRecord({ ...sample(1), body: Buffer.alloc(64 * 1024, 0x20) });
  const many = Buffer.concat(Array.from({ length: 256 }, () => one));
  const bomb = deflateRawSync(many, { level: 9 });
  t.true(bomb.length < 64 * 1024);
  throwsCode(
    t,
    () => openBatch(body(bomb, true, 256), { maxInflatedBytes: 1024 * 1024 }),
    UplinkErrorCode.INFLATE_LIMIT,
  );
  t.is(openBatch(body(bomb, true, 256), { maxInflatedBytes: many.length }).length, 256);
  // The same cap applies to an uncompressed payload.
  const plain = Buffer.concat([one, one]);
  throwsCode(
    t,
    () => openBatch(body(plain, false, 2), { maxInflatedBytes: one.length }),
    UplinkErrorCode.INFLATE_LIMIT,
  );
});

test('broken payloads are coded errors', (t) => {
  const two = Buffer.concat([encodeRecord(sample(1)), encodeRecord(sample(2))]);
  throwsCode(
    t,
    () => openBatch(body(Buffer.from([0xff, 0xff, 0xff]), true)),
    UplinkErrorCode.BAD_COMPRESSION,
  );
  const deflated = deflateRawSync(two);
  throwsCode(
    t,
    () => openBatch(body(deflated.subarray(0, deflated.length - 4), true, 2)),
    UplinkErrorCode.BAD_COMPRESSION,
  );
  throwsCode(t, () => openBatch(body(two, false, 3)), UplinkErrorCode.BAD_BATCH);
  throwsCode(t, () => openBatch(body(two, false, 1)), UplinkErrorCode.BAD_BATCH);
  throwsCode(t, () => openBatch(body(two.subarray(0, two.length - 1), false, 2)), UplinkErrorCode.TRUNCATED);
  t.is(openBatch(body(deflated, true, 2)).length, 2);
});
