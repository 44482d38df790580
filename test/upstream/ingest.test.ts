import { deflateRawSync } from 'node:zlib';
import test from 'ava';
import {
  PackedEncoding,
  packedBody,
  packSections,
  PacketType,
  UPLINK_PACKED_TYPE,
} from '../../protocol/index.js';
import { ingest, type IngestRecord } from '../../upstream/index.js';
import { packetBody, v3Sample } from '../helpers/v3-sample.js';

const v3 = (uuid: string, ip: string, value: number) => ({
  type: PacketType.SERIESDATA as number,
  body: packetBody(
    PacketType.SERIESDATA,
    v3Sample({ uuid, ip, group: 'g', timestamp: 1_700_000_000 + value, value }),
  ),
});

const packed = (payload: Buffer, deflate: boolean): IngestRecord => ({
  type: UPLINK_PACKED_TYPE,
  body: deflate
    ? packedBody(PackedEncoding.DEFLATE, deflateRawSync(payload))
    : packedBody(PackedEncoding.RAW, payload),
  uuid: '',
  src: '',
  receivedAtMs: 1,
});

test('a PACKED record becomes the points of all its sections, each with its own host tags', (t) => {
  const payload = packSections([
    { src: '10.0.0.1:1', uuid: '', packets: [v3('h1', '10.0.0.1', 1), v3('h1', '10.0.0.1', 2)] },
    {
      src: '10.0.0.2:1',
      uuid: 'h2',
      packets: [
        {
          type: PacketType.SERIESBATCH,
          body: packetBody(PacketType.SERIESBATCH, {
            session: 's',
            seq: 7,
            samples: [
              { metric: 'm', value: 3, timestamp_ms: 1_700_000_000_003 },
              { metric: 'm', value: 4, timestamp_ms: 1_700_000_000_004, tags: { disk: 'sda' } },
            ],
          }),
        },
      ],
    },
    { src: '10.0.0.1:1', uuid: '', packets: [v3('h1', '10.0.0.1', 5)] },
  ]);
  for (const deflate of [false, true]) {
    const r = ingest([packed(payload, deflate)], 'z1');
    t.is(r.invalid, 0);
    t.deepEqual(
      r.points.map((p) => [p.metric, p.value, p.tags]),
      [
        ['cpu.idle', 1, { zone: 'z1', uuid: 'h1', ip: '10.0.0.1' }],
        ['cpu.idle', 2, { zone: 'z1', uuid: 'h1', ip: '10.0.0.1' }],
        ['m', 3, { zone: 'z1', uuid: 'h2' }],
        ['m', 4, { disk: 'sda', zone: 'z1', uuid: 'h2' }],
        ['cpu.idle', 5, { zone: 'z1', uuid: 'h1', ip: '10.0.0.1' }],
      ],
    );
    // The batch's hello uuid comes from its section; consecutive points of one host share one tags object.
    t.deepEqual(r.batches, [{ uuid: 'h2', session: 's', seq: 7, firstPoint: 2, points: 2 }]);
    t.is(r.points[0]?.tags, r.points[1]?.tags);
    t.not(r.points[1]?.tags, r.points[2]?.tags);
  }
});

test('a PACKED record that does not unpack is counted invalid and the others still count', (t) => {
  const good = packSections([{ src: 's', uuid: '', packets: [v3('h', '1.1.1.1', 1)] }]);
  const r = ingest(
    [
      packed(good.subarray(0, good.length - 2), false),
      { ...packed(good, false), body: packedBody(PackedEncoding.DEFLATE, Buffer.from('nope')) },
      packed(good, true),
    ],
    'z',
  );
  t.is(r.invalid, 2);
  t.is(r.points.length, 1);
});

test('samples of one host with the same own tags share one tags object (the store resolves it once per write)', (t) => {
  const sample = (disk: string, value: number, extra: Record<string, string> = {}) => ({
    metric: 'io',
    value,
    timestamp_ms: 1_700_000_000_000 + value,
    tags: { disk, ...extra },
  });
  const batch = (uuid: string, seq: number) => ({
    type: PacketType.SERIESBATCH as number,
    body: packetBody(PacketType.SERIESBATCH, {
      uuid,
      session: 's',
      seq,
      samples: [sample('sda', 1), sample('sdb', 2), sample('sda', 3), sample('sda', 4, { part: '1' })],
    }),
  });
  const payload = packSections([{ src: '10.0.0.3:1', uuid: '', packets: [batch('h1', 1), batch('h2', 2)] }]);
  const r = ingest([packed(payload, false)], 'z');
  const [a1, b1, a2, a3, h2a] = r.points;
  t.is(a1?.tags, a2?.tags, 'same host, same tags: one object');
  t.not(a1?.tags, b1?.tags);
  t.not(a1?.tags, a3?.tags);
  t.deepEqual(a1?.tags, { disk: 'sda', zone: 'z', uuid: 'h1' });
  t.deepEqual(a3?.tags, { disk: 'sda', part: '1', zone: 'z', uuid: 'h1' });
  t.deepEqual(h2a?.tags, { disk: 'sda', zone: 'z', uuid: 'h2' }, 'another host never shares');
  t.not(h2a?.tags, a1?.tags);
});
