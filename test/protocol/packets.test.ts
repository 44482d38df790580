import test from 'ava';
import {
  createPacketParser,
  defaultParser,
  encodeFrame,
  encodePacket,
  ErrorCode,
  FrameDecoder,
  isV3Type,
  PacketError,
  packetName,
  PacketType,
  type Packet,
} from '../../protocol/index.js';
import { fixtures, V3_SERIESDATA_BYTES } from './fixtures.js';

function roundTrip(bytes: Buffer, parser = defaultParser): Packet {
  const frames = new FrameDecoder().push(bytes);
  if (frames.length !== 1 || frames[0] === undefined)
    throw new Error(`expected one frame, got ${frames.length}`);
  return parser.parse(frames[0]);
}

function rejects(type: number, body: string, parser = defaultParser): PacketError {
  try {
    roundTrip(encodeFrame(type, body), parser);
  } catch (err) {
    if (err instanceof PacketError) return err;
    throw err;
  }
  throw new Error(`${packetName(type)} ${body.slice(0, 80)} was accepted`);
}

for (const [key, body] of Object.entries(fixtures)) {
  const type = Number(key) as PacketType;
  test(`fixture ${packetName(type)} (${type}) encodes and decodes back unchanged`, (t) => {
    const bytes = encodePacket(type, body as never);
    t.is(bytes.readUInt32BE(0), bytes.length - 4);
    t.is(bytes[4], type);
    const packet = roundTrip(bytes);
    t.is(packet.type, type);
    t.deepEqual(packet.body, body);
    // and back to the same bytes
    t.deepEqual(encodePacket(type, packet.body as never), bytes);
  });
}

test('every one of the 23 packet types has a fixture', (t) => {
  t.is(Object.keys(fixtures).length, 23);
  t.true(isV3Type(PacketType.GUARDHB));
  t.false(isV3Type(PacketType.SERIESBATCH));
});

test('a v3 SERIESDATA exactly as a v3 agent sends it round-trips', (t) => {
  const bytes = encodeFrame(PacketType.SERIESDATA, V3_SERIESDATA_BYTES);
  const packet = roundTrip(bytes);
  t.is(packet.type, PacketType.SERIESDATA);
  if (packet.type !== PacketType.SERIESDATA) return;
  t.is(packet.body.value, 46.5);
  t.is(packet.body.flag, 0);
  t.is(packet.body.metric, 'TCP_LISTEN');
  t.deepEqual(encodePacket(PacketType.SERIESDATA, packet.body), bytes);
});

test('empty bodies are accepted where v3 sends them, and rejected elsewhere', (t) => {
  t.deepEqual(roundTrip(encodeFrame(PacketType.CLIENTVERSION)), {
    type: PacketType.CLIENTVERSION,
    body: null,
  });
  t.deepEqual(roundTrip(encodeFrame(PacketType.GUARDHB)), { type: PacketType.GUARDHB, body: null });
  t.deepEqual(roundTrip(encodeFrame(PacketType.HOSTHB)), { type: PacketType.HOSTHB, body: null });
  t.is(rejects(PacketType.SERIESDATA, '').code, ErrorCode.EMPTY_BODY);
});

test('unknown fields never cause a rejection', (t) => {
  const body = { ...fixtures[PacketType.SERIESDATA], future: { nested: [1, 2, { x: 'y' }] }, extra: 'z' };
  const packet = roundTrip(encodeFrame(PacketType.SERIESDATA, JSON.stringify(body)));
  t.deepEqual(packet.body, body);
});

test('a wrong type is rejected with OWL_ERR_BAD_FIELD naming the field', (t) => {
  const body = JSON.stringify({ ...fixtures[PacketType.SERIESDATA], value: '97' });
  const err = rejects(PacketType.SERIESDATA, body);
  t.is(err.code, ErrorCode.BAD_FIELD);
  t.is(err.field, '/value');
  t.regex(err.message, /\/value/);
});

test('a missing required field is named', (t) => {
  const err = rejects(PacketType.HOSTCONFIG, '{"ip":"10.0.0.1"}');
  t.is(err.code, ErrorCode.BAD_FIELD);
  t.is(err.field, '/uuid');
});

test('a bad field deep in a batch is named by its path', (t) => {
  const batch = structuredClone(fixtures[PacketType.SERIESBATCH]);
  (batch.samples[1] as unknown as Record<string, unknown>).value = null;
  const err = rejects(PacketType.SERIESBATCH, JSON.stringify(batch));
  t.is(err.code, ErrorCode.BAD_FIELD);
  t.is(err.field, '/samples/1/value');
});

test('a batch sample needs a timestamp in seconds or milliseconds', (t) => {
  const err = rejects(
    PacketType.SERIESBATCH,
    JSON.stringify({ session: 's', seq: 1, samples: [{ metric: 'm', value: 1 }] }),
  );
  t.is(err.code, ErrorCode.BAD_FIELD);
  t.regex(err.field ?? '', /^\/samples\/0/);
});

test('Infinity (1e999 in JSON) and NaN are rejected', (t) => {
  const inf = '{"uuid":"u","timestamp":1,"metric":"m","value":1e999}';
  t.is(rejects(PacketType.SERIESDATA, inf).field, '/value');
  t.is(
    rejects(PacketType.SERIESDATA, '{"uuid":"u","timestamp":1,"metric":"m","value":NaN}').code,
    ErrorCode.BAD_JSON,
  );
  const negInf = '{"session":"s","seq":1,"samples":[{"metric":"m","value":-1e400,"timestamp":1}]}';
  t.is(rejects(PacketType.SERIESBATCH, negInf).field, '/samples/0/value');
});

test('malformed JSON is OWL_ERR_BAD_JSON', (t) => {
  t.is(rejects(PacketType.HOSTHB, '{"uuid":').code, ErrorCode.BAD_JSON);
  t.is(rejects(PacketType.HOSTHB, '\xff\xfe').code, ErrorCode.BAD_JSON);
});

test('an over-long string is OWL_ERR_STRING_TOO_LONG', (t) => {
  const parser = createPacketParser({ maxStringLength: 64 });
  const err = rejects(PacketType.HOSTHB, JSON.stringify({ uuid: 'u'.repeat(65) }), parser);
  t.is(err.code, ErrorCode.STRING_TOO_LONG);
  t.is(err.field, '/uuid');
  t.notThrows(() =>
    roundTrip(encodeFrame(PacketType.HOSTHB, JSON.stringify({ uuid: 'u'.repeat(64) })), parser),
  );
});

test('too-deep nesting is OWL_ERR_TOO_DEEP, also inside unknown fields', (t) => {
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  t.is(rejects(PacketType.HOSTHB, `{"uuid":"u","x":${deep}}`).code, ErrorCode.TOO_DEEP);
  t.is(rejects(PacketType.UPDATEPORTS, deep).code, ErrorCode.TOO_DEEP);
  const parser = createPacketParser({ maxDepth: 3 });
  t.notThrows(() => roundTrip(encodeFrame(PacketType.HOSTHB, '{"uuid":"u","x":[[1]]}'), parser));
  t.is(rejects(PacketType.HOSTHB, '{"uuid":"u","x":[[[1]]]}', parser).code, ErrorCode.TOO_DEEP);
});

test('too many samples is OWL_ERR_TOO_MANY_ITEMS', (t) => {
  const parser = createPacketParser({ maxSamples: 3 });
  const sample = { metric: 'm', value: 1, timestamp: 1 };
  const ok = JSON.stringify({ session: 's', seq: 0, samples: [sample, sample, sample] });
  t.notThrows(() => roundTrip(encodeFrame(PacketType.SERIESBATCH, ok), parser));
  const tooMany = JSON.stringify({ session: 's', seq: 0, samples: [sample, sample, sample, sample] });
  const err = rejects(PacketType.SERIESBATCH, tooMany, parser);
  t.is(err.code, ErrorCode.TOO_MANY_ITEMS);
  t.is(err.field, '/samples');
});

test('an unknown packet type is OWL_ERR_UNKNOWN_TYPE', (t) => {
  t.is(rejects(23, '{}').code, ErrorCode.UNKNOWN_TYPE);
  t.is(rejects(255, '{}').code, ErrorCode.UNKNOWN_TYPE);
});

test('sequence numbers must be non-negative safe integers', (t) => {
  const base = { session: 's', samples: [] };
  t.is(rejects(PacketType.SERIESBATCH, JSON.stringify({ ...base, seq: -1 })).field, '/seq');
  t.is(rejects(PacketType.SERIESBATCH, JSON.stringify({ ...base, seq: 1.5 })).field, '/seq');
  t.is(rejects(PacketType.SERIESBATCH, JSON.stringify({ ...base, seq: 2 ** 60 })).field, '/seq');
});

test('a list body may be JSON null (Go marshals an empty slice so); other bodies may not', (t) => {
  for (const type of [
    PacketType.GETDEVICESRESP,
    PacketType.GETPORTSRESP,
    PacketType.UPDATEDEVICES,
    PacketType.UPDATEPORTS,
  ]) {
    t.deepEqual(roundTrip(encodeFrame(type, 'null')), { type, body: null } as Packet);
  }
  t.is(rejects(PacketType.SERIESDATA, 'null').code, ErrorCode.EMPTY_BODY);
});
