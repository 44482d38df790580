import test from 'ava';
import {
  decodeRecords,
  isCompressedPacked,
  PackedEncoding,
  PacketType,
  unpackSections,
  UPLINK_PACKED_TYPE,
} from '../../protocol/index.js';
import { MemorySpool, Packer, type SpoolRecord, type SpoolRequest } from '../../relay/index.js';
import { packetBody, v3Sample } from '../helpers/v3-sample.js';

const v3 = (i: number, source = '10.0.0.1:40000', uuid = ''): SpoolRequest => ({
  type: PacketType.SERIESDATA,
  body: packetBody(
    PacketType.SERIESDATA,
    v3Sample({
      uuid: 'a'.repeat(32),
      ip: '10.0.0.1',
      group: 'web',
      timestamp: 1_718_000_000 + i,
      value: i / 7,
    }),
  ),
  samples: 1,
  source,
  uuid,
});

type Flat = [src: string, uuid: string, type: number, body: string];

/** Every packet the records carry, in order. */
function packetsOf(records: readonly SpoolRecord[]): Flat[] {
  return records.flatMap((rec) => {
    const [r] = decodeRecords(rec.payload);
    if (r === undefined) throw new Error('no record');
    if (r.type !== UPLINK_PACKED_TYPE) return [[r.src, r.uuid, r.type, r.body.toString()] as Flat];
    return unpackSections(r.body).flatMap((s) =>
      s.frames.map((f) => [s.src, s.uuid, f.type, f.body.toString()] as Flat),
    );
  });
}

const flat = (requests: readonly SpoolRequest[]): Flat[] =>
  requests.map((r) => [r.source, r.uuid, r.type, r.body.toString()]);

/** A packer writing into a real (memory) spool, keeping every write's records. */
function rig(level: number, maxPayloadBytes?: number) {
  const spool = new MemorySpool({ maxBytes: 1 << 30 });
  const writes: SpoolRecord[][] = [];
  const packer = new Packer({
    level,
    now: () => 1234,
    ...(maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
    write: (records) => {
      writes.push(records);
      return spool.append(records);
    },
  });
  return { packer, writes, spool };
}

test('reads from many connections in one turn become one zstd PACKED record, in arrival order', async (t) => {
  const { packer, writes, spool } = rig(3);
  const reads = Array.from({ length: 10 }, (_, c) =>
    Array.from({ length: 30 }, (_, i) => v3(c * 100 + i, `10.0.0.${c}:4000`, c % 2 === 0 ? '' : `u${c}`)),
  );
  await Promise.all(reads.map((r) => packer.add(r)));
  t.is(writes.length, 1, 'one spool write');
  const [records] = writes;
  t.is(records?.length, 1, 'one record');
  const rec = records![0]!;
  t.is(rec.samples, 300);
  t.true(isCompressedPacked(rec.payload));
  t.is(decodeRecords(rec.payload)[0]?.body[0], PackedEncoding.ZSTD);
  const raw = reads.flat().reduce((n, r) => n + r.body.length, 0);
  t.true(rec.payload.length < raw / 5, `${rec.payload.length} bytes for ${raw} bytes of JSON`);
  t.is(decodeRecords(rec.payload)[0]?.receivedAtMs, 1234);
  t.deepEqual(packetsOf(records!), flat(reads.flat()));
  t.is(spool.stats().samples, 300);
});

test('a turn with one small packet writes a plain record; level 0 packs without compressing', async (t) => {
  const hb: SpoolRequest = {
    type: PacketType.HOSTHB,
    body: Buffer.from('{"uuid":"h"}'),
    samples: 0,
    source: 's:1',
    uuid: 'h',
  };
  const a = rig(3);
  await a.packer.add([hb]);
  t.is(decodeRecords(a.writes[0]![0]!.payload)[0]?.type, PacketType.HOSTHB);
  t.deepEqual(packetsOf(a.writes[0]!), flat([hb]));

  const b = rig(0);
  const requests = Array.from({ length: 20 }, (_, i) => v3(i));
  await b.packer.add(requests);
  const rec = b.writes[0]![0]!;
  t.is(decodeRecords(rec.payload)[0]?.type, UPLINK_PACKED_TYPE);
  t.false(isCompressedPacked(rec.payload));
  t.deepEqual(packetsOf(b.writes[0]!), flat(requests));
});

test('records stay within the payload limit: a full queue is written at once, a big packet goes alone', async (t) => {
  const { packer, writes } = rig(1, 8192);
  const first = Array.from({ length: 30 }, (_, i) => v3(i)); // ~5.5 KB
  const second = Array.from({ length: 30 }, (_, i) => v3(100 + i)); // does not fit with the first
  const big: SpoolRequest = {
    type: PacketType.SERIESBATCH,
    body: Buffer.from(`{"pad":"${'x'.repeat(20_000)}"}`),
    samples: 1,
    source: 'b:1',
    uuid: 'b',
  };
  const done = [packer.add(first), packer.add(second), packer.add([v3(500), big, v3(501)])];
  await Promise.all(done);
  const records = writes.flat();
  for (const r of records) {
    const [d] = decodeRecords(r.payload);
    if (d?.type === UPLINK_PACKED_TYPE) t.true(r.payload.length < 8192 + 64);
    else
      t.true(
        d!.type === PacketType.SERIESBATCH || d!.body.length < 1024,
        'plain: the big packet, or one left alone',
      );
  }
  t.true(writes.length >= 2, `${writes.length} writes`);
  t.deepEqual(packetsOf(records), flat([...first, ...second, v3(500), big, v3(501)]));
});

test('write is called in arrival order even when a later turn compresses faster', async (t) => {
  const { packer, writes } = rig(9);
  const heavy = Array.from({ length: 3000 }, (_, i) => v3(i)); // slow to deflate
  const light = [v3(9000), v3(9001)];
  const a = packer.add(heavy);
  packer.flush();
  const b = packer.add(light);
  await Promise.all([a, b]);
  t.deepEqual(packetsOf(writes.flat()), flat([...heavy, ...light]));
});

test('a refused write rejects every read of that record, and later reads still go through', async (t) => {
  let refuse = true;
  const spool = new MemorySpool({ maxBytes: 1 << 30 });
  const packer = new Packer({
    level: 1,
    now: () => 1,
    write: (records) => (refuse ? Promise.reject(new Error('full')) : spool.append(records)),
  });
  const failed = [packer.add([v3(1)]), packer.add([v3(2)])];
  for (const p of failed) await t.throwsAsync(p, { message: 'full' });
  refuse = false;
  await packer.add([v3(3), v3(4)]);
  t.is(spool.stats().samples, 2);
});

test("release: called once a read's packets are packed, before they are durable; the bytes may go then", async (t) => {
  const order: string[] = [];
  const writes: SpoolRecord[][] = [];
  let durable: () => void = () => undefined;
  const packer = new Packer({
    level: 3,
    now: () => 1,
    write: (records) => {
      writes.push(records);
      order.push('write');
      return new Promise<void>((resolve) => (durable = resolve));
    },
  });
  // Each packet in a buffer of its own, as socket reads are (pooled buffers cannot be detached).
  const own = (q: SpoolRequest): SpoolRequest => {
    const body = Buffer.allocUnsafeSlow(q.body.length);
    q.body.copy(body);
    return { ...q, body };
  };
  const reads = [0, 1, 2].map((r) =>
    Array.from({ length: 50 }, (_, i) => own(v3(r * 50 + i, `10.0.0.${r}:1`))),
  );
  const expected = reads.flatMap(flat);
  const done = reads.map((requests, r) =>
    packer.add(requests, () => {
      order.push(`release ${r}`);
      // What a relay does with a socket read: its memory goes, every view of it reads as empty.
      for (const q of requests)
        (q.body.buffer as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(0);
    }),
  );
  const all = Promise.all(done).then(() => order.push('durable'));
  while (writes.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(order, ['release 0', 'release 1', 'release 2', 'write']);
  t.deepEqual(packetsOf(writes.flat()), expected, 'the record holds copies of the released bytes');
  durable();
  await all;
  t.is(order.at(-1), 'durable');
});
