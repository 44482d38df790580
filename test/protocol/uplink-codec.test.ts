/**
 * Uplink message codec: every kind round-trips, the bytes sit where
 * docs/uplink.md says, and every bad input is a coded UplinkError, never
 * another exception.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  BatchAckStatus,
  FIRMWARE_MAX_CHUNK_BYTES,
  inRollout,
  UplinkChannel,
  decodeUplinkMessage,
  encodeUplinkMessage,
  OwlError,
  UPLINK_KINDS,
  UplinkError,
  UplinkErrorCode,
  type UplinkBodies,
  type UplinkMessage,
  type UplinkMessageType,
} from '../../protocol/index.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const host = {
  id: 17,
  uuid: UUID,
  ip: '10.1.0.23',
  group: 'web',
  services: [
    {
      name: 'tcp',
      plugin: 'tcp_state.py',
      exec_interval: 60,
      items: { TCP_LISTEN: { key: 'TCP_LISTEN', data_type: 'GAUGE' as const } },
    },
  ],
};

const BUNDLE = 'a'.repeat(64);

const bodies: { [T in UplinkMessageType]: UplinkBodies[T] } = {
  HELLO: { version: 1, relay: 'zone-a', spool: 'sp-1', features: [], firstUnacked: 1000, nextSeq: 1200 },
  WELCOME: { version: 1, window: 8, maxBatchBytes: 2 * 1024 * 1024, heartbeatMs: 15000, features: [] },
  CREDIT: { window: 0 },
  PING: { t: 1718000000123 },
  PONG: { t: 1718000000123 },
  ERROR: { code: 'OWL_ERR_UPLINK_BAD_FIELD', message: 'HELLO /nextSeq: must be integer' },
  BATCH: {
    firstSeq: 2 ** 40,
    lastSeq: 2 ** 40 + 9,
    records: 7,
    samples: 12,
    compressed: true,
    replay: true,
    gaps: [
      [2 ** 40 + 2, 2 ** 40 + 3],
      [2 ** 40 + 5, 2 ** 40 + 5],
    ],
    payload: Buffer.from('not really deflate'),
  },
  BATCH_ACK: {
    firstSeq: Number.MAX_SAFE_INTEGER - 1,
    lastSeq: Number.MAX_SAFE_INTEGER,
    status: BatchAckStatus.REJECTED,
  },
  HOSTCONFIG_REQ: {
    id: 1,
    uuid: UUID,
    request: { uuid: UUID, ip: '10.1.0.23', hostname: 'web-23', os: 'Debian GNU/Linux 11' },
    source: '10.1.0.23:40312',
  },
  HOSTCONFIG_RESP: { id: 1, uuid: UUID, host },
  CONFIG_PUSH: { uuid: UUID, host: null },
  VERSION_REQ: { id: 2 },
  VERSION_RESP: { id: 2, version: '2.1.0', platform: 'linux-amd64' },
  INVENTORY_REQ: { id: 3, what: 'devices' },
  INVENTORY_RESP: {
    id: 3,
    what: 'devices',
    items: [
      { ip: '10.1.0.254', snmp_version: '2c', snmp_community: 'public', interfaces: { '1': { index: 1 } } },
    ],
  },
  CONFIG_ERROR: { id: 4, code: 'OWL_ERR_INTERNAL', message: 'database unavailable' },
  INVENTORY_PUSH: {
    what: 'ports',
    items: [{ id: 9, ip: '10.1.0.23', port: 443, proc_name: 'nginx', status: 0 }],
  },
  RELAY_STATUS: {
    version: '0.1.0',
    agents: 97,
    spool: { records: 1200, bytes: 250000, oldestAgeMs: 61000, firstUnacked: 1000, nextSeq: 2200 },
    dropped: { spoolCap: 0, rejected: 3 },
    t: 1718000000000,
  },
  FIRMWARE_OFFER: {
    bundles: [
      {
        bundle: BUNDLE,
        program: 'owl-relay',
        arch: 'arm64',
        version: '0.2.0',
        size: 31_000_000,
        percent: 100,
      },
      {
        bundle: BUNDLE.replace('a', 'b'),
        program: 'owl-agent',
        arch: 'amd64',
        version: '0.2.0',
        size: 9,
        percent: 10,
      },
    ],
  },
  FIRMWARE_CHUNK_REQ: { id: 7, bundle: BUNDLE, offset: 262_144, length: 262_144 },
  FIRMWARE_CHUNK: { id: 7, offset: 2 ** 40, data: Buffer.from('bundle bytes') },
  FIRMWARE_ERROR: { id: 7, bundle: BUNDLE, code: 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE', message: 'withdrawn' },
  FIRMWARE_REPORT: {
    units: [
      {
        program: 'owl-relay',
        version: '0.2.0',
        arch: 'arm64',
        state: 'committed',
        lastFailure: {
          code: 'OWL_ERR_FIRMWARE_EXITED_AT_START',
          reason: 'exited at start',
          version: '0.3.0',
          at: 1,
        },
        t: 1718000000000,
      },
      {
        program: 'owl-agent',
        uuid: '5d41402abc4b2a76b9719d911017c592',
        version: '0.1.0',
        state: 'none',
        download: { bundle: BUNDLE, version: '0.2.0', bytes: 10, size: 20 },
        refused: { bundle: BUNDLE, code: 'OWL_ERR_FIRMWARE_BAD_SIGNATURE', message: 'bad', at: 2 },
        t: 1718000000000,
      },
    ],
  },
};

const messages = Object.entries(bodies).map(([type, body]) => ({ type, body }) as UplinkMessage);

/** Run `fn`; it must throw an UplinkError with `code`. */
function throwsCode(t: ExecutionContext, fn: () => unknown, code: UplinkErrorCode): UplinkError {
  const err = t.throws(fn);
  t.true(err instanceof UplinkError, `expected UplinkError, got ${String(err)}`);
  t.is((err as UplinkError).code, code);
  return err as UplinkError;
}

/** A message with channel/kind of `type` and the given JSON text. */
function raw(type: UplinkMessageType, json: string): Buffer {
  const info = UPLINK_KINDS[type];
  return Buffer.concat([Buffer.from([info.channel, info.kind]), Buffer.from(json)]);
}

for (const msg of messages) {
  test(`${msg.type} round-trips and starts with its channel and kind`, (t) => {
    const buf = encodeUplinkMessage(msg);
    t.is(buf[0], UPLINK_KINDS[msg.type].channel);
    t.is(buf[1], UPLINK_KINDS[msg.type].kind);
    t.deepEqual(decodeUplinkMessage(buf), msg);
    // A Uint8Array that is not a Buffer decodes the same.
    const copy = new Uint8Array(buf.length + 3).subarray(3);
    copy.set(buf);
    t.deepEqual(decodeUplinkMessage(copy), msg);
  });
}

test('every (channel, kind) pair is distinct and kinds start at 1', (t) => {
  const seen = new Set<number>();
  for (const info of Object.values(UPLINK_KINDS)) {
    t.true(info.kind >= 1);
    t.false(seen.has(info.channel * 256 + info.kind));
    seen.add(info.channel * 256 + info.kind);
  }
});

test('unknown JSON fields are kept', (t) => {
  const decoded = decodeUplinkMessage(raw('PING', '{"t":5,"extra":{"a":[1]}}'));
  t.deepEqual(decoded.body as unknown, { t: 5, extra: { a: [1] } });
});

test('framing errors are coded', (t) => {
  throwsCode(t, () => decodeUplinkMessage(Buffer.alloc(0)), UplinkErrorCode.TRUNCATED);
  throwsCode(t, () => decodeUplinkMessage(Buffer.from([0])), UplinkErrorCode.TRUNCATED);
  throwsCode(t, () => decodeUplinkMessage(Buffer.from([5, 1, 0x7b, 0x7d])), UplinkErrorCode.UNKNOWN_CHANNEL);
  throwsCode(t, () => decodeUplinkMessage(Buffer.from([0, 0, 0x7b, 0x7d])), UplinkErrorCode.UNKNOWN_KIND);
  throwsCode(t, () => decodeUplinkMessage(Buffer.from([3, 2, 0x7b, 0x7d])), UplinkErrorCode.UNKNOWN_KIND);
  throwsCode(
    t,
    () => decodeUplinkMessage(Buffer.alloc(101, 0), { maxMessageBytes: 100 }),
    UplinkErrorCode.TOO_LARGE,
  );
});

test('JSON body errors are coded, with the field to blame', (t) => {
  throwsCode(t, () => decodeUplinkMessage(raw('PING', '')), UplinkErrorCode.BAD_JSON);
  throwsCode(t, () => decodeUplinkMessage(raw('PING', '{"t":')), UplinkErrorCode.BAD_JSON);
  throwsCode(t, () => decodeUplinkMessage(raw('PING', '[1]')), UplinkErrorCode.BAD_FIELD);
  throwsCode(t, () => decodeUplinkMessage(raw('PING', 'null')), UplinkErrorCode.BAD_FIELD);
  const missing = throwsCode(
    t,
    () =>
      decodeUplinkMessage(
        raw('HELLO', '{"version":1,"relay":"a","spool":"s","features":[],"firstUnacked":0}'),
      ),
    UplinkErrorCode.BAD_FIELD,
  );
  t.is(missing.field, '/nextSeq');
  const wrong = throwsCode(
    t,
    () => decodeUplinkMessage(raw('HOSTCONFIG_REQ', '{"id":1,"uuid":"u","request":{"ip":"x"},"source":""}')),
    UplinkErrorCode.BAD_FIELD,
  );
  t.is(wrong.field, '/request/uuid');
  throwsCode(t, () => decodeUplinkMessage(raw('CREDIT', '{"window":-1}')), UplinkErrorCode.BAD_FIELD);
  throwsCode(t, () => decodeUplinkMessage(raw('CREDIT', '{"window":1.5}')), UplinkErrorCode.BAD_FIELD);
  throwsCode(
    t,
    () => decodeUplinkMessage(raw('HELLO', JSON.stringify({ ...bodies.HELLO, relay: 'has.dot' }))),
    UplinkErrorCode.BAD_FIELD,
  );
  throwsCode(
    t,
    () => decodeUplinkMessage(raw('WELCOME', JSON.stringify({ ...bodies.WELCOME, maxBatchBytes: 1000 }))),
    UplinkErrorCode.BAD_FIELD,
  );
  // INVENTORY_RESP items are checked against the kind named by `what`.
  throwsCode(
    t,
    () => decodeUplinkMessage(raw('INVENTORY_RESP', '{"id":1,"what":"ports","items":[{"ip":"x"}]}')),
    UplinkErrorCode.BAD_FIELD,
  );
  t.notThrows(() =>
    decodeUplinkMessage(raw('INVENTORY_RESP', '{"id":1,"what":"ports","items":[{"port":22}]}')),
  );
  throwsCode(
    t,
    () => decodeUplinkMessage(raw('INVENTORY_PUSH', '{"what":"devices","items":[{"snmp_port":161}]}')),
    UplinkErrorCode.BAD_FIELD,
  );
  const deep = '{"t":1,"x":' + '['.repeat(40) + ']'.repeat(40) + '}';
  throwsCode(t, () => decodeUplinkMessage(raw('PING', deep)), UplinkErrorCode.TOO_DEEP);
});

test('a kind sent by the wrong peer is refused when `from` is given', (t) => {
  const welcome = encodeUplinkMessage({ type: 'WELCOME', body: bodies.WELCOME });
  throwsCode(t, () => decodeUplinkMessage(welcome, { from: 'relay' }), UplinkErrorCode.WRONG_DIRECTION);
  t.notThrows(() => decodeUplinkMessage(welcome, { from: 'upstream' }));
  const batch = encodeUplinkMessage({ type: 'BATCH', body: bodies.BATCH });
  throwsCode(t, () => decodeUplinkMessage(batch, { from: 'upstream' }), UplinkErrorCode.WRONG_DIRECTION);
  const ping = encodeUplinkMessage({ type: 'PING', body: { t: 1 } });
  t.notThrows(() => decodeUplinkMessage(ping, { from: 'relay' }));
  t.notThrows(() => decodeUplinkMessage(ping, { from: 'upstream' }));
});

test('encoding validates JSON bodies (a NaN fails at the sender)', (t) => {
  const status = { ...bodies.RELAY_STATUS, spool: { ...bodies.RELAY_STATUS.spool, records: NaN } };
  const err = throwsCode(
    t,
    () => encodeUplinkMessage({ type: 'RELAY_STATUS', body: status }),
    UplinkErrorCode.BAD_FIELD,
  );
  t.is(err.field, '/spool/records');
  throwsCode(
    t,
    () => encodeUplinkMessage({ type: 'NOPE' } as unknown as UplinkMessage),
    UplinkErrorCode.UNKNOWN_KIND,
  );
});

/** Encoded BATCH of bodies.BATCH with header fields patched. */
function batchBytes(patch: (buf: Buffer) => Buffer | void): Buffer {
  const buf = Buffer.from(encodeUplinkMessage({ type: 'BATCH', body: bodies.BATCH }));
  return patch(buf) ?? buf;
}

test('BATCH header errors are coded', (t) => {
  const ok = batchBytes(() => {});
  t.is(ok.length, 27 + 4 + 32 + bodies.BATCH.payload.length);
  for (let n = 2; n < 27 + 4 + 32; n++) {
    const err = t.throws(() => decodeUplinkMessage(ok.subarray(0, n)));
    t.true(err instanceof UplinkError, `prefix of ${n} bytes`);
  }
  throwsCode(t, () => decodeUplinkMessage(ok.subarray(0, 27 + 4 + 32)), UplinkErrorCode.TRUNCATED);
  // Unknown flag bit.
  throwsCode(t, () => decodeUplinkMessage(batchBytes((b) => void (b[26] = 0x0f))), UplinkErrorCode.BAD_BATCH);
  // firstSeq above lastSeq.
  throwsCode(
    t,
    () => decodeUplinkMessage(batchBytes((b) => void b.writeUInt32BE(0xffff, 6))),
    UplinkErrorCode.BAD_BATCH,
  );
  // Record count that does not match range minus gaps.
  throwsCode(
    t,
    () => decodeUplinkMessage(batchBytes((b) => void b.writeUInt32BE(8, 18))),
    UplinkErrorCode.BAD_BATCH,
  );
  // A sequence number past 2^53-1.
  const big = throwsCode(
    t,
    () => decodeUplinkMessage(batchBytes((b) => void b.writeUInt32BE(0x200000, 10))),
    UplinkErrorCode.BAD_FIELD,
  );
  t.is(big.field, '/lastSeq');
  // Gap flag with an empty list.
  throwsCode(
    t,
    () => decodeUplinkMessage(batchBytes((b) => void b.writeUInt32BE(0, 27))),
    UplinkErrorCode.BAD_BATCH,
  );
  // Gap count larger than the message.
  throwsCode(
    t,
    () => decodeUplinkMessage(batchBytes((b) => void b.writeUInt32BE(0xffffffff, 27))),
    UplinkErrorCode.TRUNCATED,
  );
  // No gap flag but a sparse count: records must then equal the range.
  throwsCode(
    t,
    () =>
      decodeUplinkMessage(
        batchBytes((b) => {
          b[26] = 0x01;
          return Buffer.concat([b.subarray(0, 27), b.subarray(27 + 4 + 32)]);
        }),
      ),
    UplinkErrorCode.BAD_BATCH,
  );
});

test('BATCH gaps must be inside the range, ascending and not touching', (t) => {
  const base = { ...bodies.BATCH, firstSeq: 10, lastSeq: 20 };
  const bad: [number, number][][] = [
    [[10, 11]], // covers firstSeq
    [[19, 20]], // covers lastSeq
    [
      [12, 13],
      [14, 15],
    ], // touching: should be one gap
    [
      [15, 16],
      [12, 13],
    ], // descending
    [[13, 12]], // reversed
  ];
  for (const gaps of bad) {
    const missing = gaps.reduce((n, [a, b]) => n + Math.max(0, b - a + 1), 0);
    const body = { ...base, gaps, records: 11 - missing };
    throwsCode(t, () => encodeUplinkMessage({ type: 'BATCH', body }), UplinkErrorCode.BAD_BATCH);
  }
  throwsCode(
    t,
    () => encodeUplinkMessage({ type: 'BATCH', body: { ...base, gaps: [], records: 0, lastSeq: 10 } }),
    UplinkErrorCode.BAD_BATCH,
  );
  throwsCode(
    t,
    () => encodeUplinkMessage({ type: 'BATCH', body: { ...base, gaps: [], records: 11, samples: -1 } }),
    UplinkErrorCode.BAD_BATCH,
  );
});

test('BATCH_ACK must be exactly 19 bytes with a known status', (t) => {
  const ack = encodeUplinkMessage({ type: 'BATCH_ACK', body: { firstSeq: 1, lastSeq: 9, status: 0 } });
  t.is(ack.length, 19);
  throwsCode(t, () => decodeUplinkMessage(ack.subarray(0, 18)), UplinkErrorCode.TRUNCATED);
  throwsCode(
    t,
    () => decodeUplinkMessage(Buffer.concat([ack, Buffer.from([0])])),
    UplinkErrorCode.TRAILING_BYTES,
  );
  const bad = Buffer.from(ack);
  bad[18] = 3;
  throwsCode(t, () => decodeUplinkMessage(bad), UplinkErrorCode.BAD_FIELD);
  const reversed = Buffer.from(ack);
  reversed.writeUInt32BE(10, 6);
  throwsCode(t, () => decodeUplinkMessage(reversed), UplinkErrorCode.BAD_FIELD);
  throwsCode(
    t,
    () => encodeUplinkMessage({ type: 'BATCH_ACK', body: { firstSeq: 2, lastSeq: 1, status: 0 } }),
    UplinkErrorCode.BAD_FIELD,
  );
});

const TIME_LIMIT_MS = 3000;

/** Decode `bytes`; anything but a message or an UplinkError fails the property. */
function decodes(bytes: Uint8Array): void {
  try {
    const msg = decodeUplinkMessage(bytes, { maxMessageBytes: 4096 });
    // Whatever decodes must encode again.
    encodeUplinkMessage(msg);
  } catch (err) {
    if (!(err instanceof UplinkError)) throw err;
  }
}

test('random bytes give a message or an UplinkError, never another exception', (t) => {
  const header = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 9 }));
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 256 }), ([channel, kind], rest) =>
      decodes(Buffer.concat([Buffer.from([channel, kind]), rest])),
    ),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => decodes(bytes)),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 5_000 },
  );
  t.pass();
});

test('every truncation and byte mutation of valid messages gives a message or an UplinkError', (t) => {
  const valid = messages.map((m) => encodeUplinkMessage(m));
  for (const buf of valid) for (let n = 0; n <= buf.length; n++) decodes(buf.subarray(0, n));
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    )
    .map(([buf, edits]) => {
      const copy = Buffer.from(buf);
      for (const [pos, byte] of edits) copy[pos % copy.length] = byte;
      return copy;
    });
  fc.assert(
    fc.property(mutated, (bytes) => decodes(bytes)),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  t.pass();
});

test('random JSON for every JSON kind gives a message or an UplinkError', (t) => {
  const jsonTypes = (Object.keys(UPLINK_KINDS) as UplinkMessageType[]).filter(
    (type) => type !== 'BATCH' && type !== 'BATCH_ACK',
  );
  fc.assert(
    fc.property(fc.constantFrom(...jsonTypes), fc.jsonValue({ maxDepth: 5 }), (type, value) => {
      decodes(raw(type, JSON.stringify(value) ?? ''));
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 10_000 },
  );
  t.pass();
});

test('UplinkError is an OwlError and not retriable', (t) => {
  const err = t.throws(() => decodeUplinkMessage(Buffer.alloc(1)));
  t.true(err instanceof OwlError);
  t.false((err as OwlError).retriable);
});

test('FIRMWARE_CHUNK is | id | offset | data | and refuses a cut header or an oversized chunk', (t) => {
  const data = Buffer.from('chunk');
  const wire = encodeUplinkMessage({ type: 'FIRMWARE_CHUNK', body: { id: 9, offset: 5, data } });
  t.is(wire.length, 14 + data.length);
  t.is(wire.readUInt32BE(2), 9);
  throwsCode(t, () => decodeUplinkMessage(wire.subarray(0, 13)), UplinkErrorCode.TRUNCATED);
  const big = Buffer.alloc(14 + FIRMWARE_MAX_CHUNK_BYTES + 1);
  big[0] = UplinkChannel.FIRMWARE;
  big[1] = 3;
  throwsCode(t, () => decodeUplinkMessage(big), UplinkErrorCode.TOO_LARGE);
  throwsCode(t, () => decodeUplinkMessage(wire, { from: 'relay' }), UplinkErrorCode.WRONG_DIRECTION);
});

test('inRollout is stable per (bundle, unit) and picks about the asked share', (t) => {
  const bundle = 'd'.repeat(64);
  const units = Array.from({ length: 2000 }, (_, i) => `relay-${i}`);
  const at10 = units.filter((u) => inRollout(bundle, u, 10));
  const at50 = units.filter((u) => inRollout(bundle, u, 50));
  t.true(at10.length > 120 && at10.length < 280, `${at10.length} of 2000 at 10 %`);
  t.true(
    at10.every((u) => at50.includes(u)),
    'raising the share only adds units',
  );
  t.true(units.every((u) => inRollout(bundle, u, 100)));
  t.deepEqual(
    units.filter((u) => inRollout(bundle, u, 10)),
    at10,
  );
  t.notDeepEqual(
    units.filter((u) => inRollout('e'.repeat(64), u, 10)),
    at10,
  );
});
