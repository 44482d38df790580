/**
 * Malformed input on the relay's agent side: connections that each send 1,000
 * bad frames in one write get one coded ERROR and are closed, while
 * well-behaved agents on other connections keep sending before, during and
 * after, and every one of their samples arrives upstream exactly once. A v3
 * peer (it never resends) is the exception for well-framed packets with bad
 * content: it loses those packets only, counted, and its good packets around
 * them are stored; a framing error still closes it. Real relay, real TCP on
 * 127.0.0.1, real uplink receiver.
 */
import test from 'ava';
import { encodeFrame, encodePacket, ErrorCode, PacketType } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { frameHeader, RawPeer, repeatFrame } from '../helpers/agent-peer.js';
import {
  agentErrorCount,
  exactlyOnceProblems,
  sampleKey,
  startRig,
  SteadyAgent,
  upstreamSampleCounts,
  waitUpstream,
  ZONE_TOKEN,
} from '../helpers/agent-rig.js';

const COPIES = 1000;
const MAX_FRAME = 1024 * 1024;

interface Variant {
  name: string;
  /** Open a v4 session first. */
  hello: boolean;
  /** Valid bytes sent (and handled) before the bad ones. */
  prelude?: Buffer;
  payload: Buffer;
  /** Half-close right after the payload. */
  endAfter?: boolean;
  /** Expected ERROR code. */
  code: string;
  field?: string;
}

const batchJson = (session: string, seq: number, value: number): string =>
  JSON.stringify({ session, seq, samples: [{ metric: 'm', value, timestamp_ms: 1_700_000_000_000 }] });

const bad = (type: number, body: string): Buffer => repeatFrame(encodeFrame(type, body), COPIES);

const VARIANTS: Variant[] = [
  {
    name: 'bad JSON after HELLO',
    hello: true,
    payload: bad(PacketType.SERIESBATCH, '{"session":"s","seq":1,'),
    code: ErrorCode.BAD_JSON,
  },
  {
    name: 'wrong field type after HELLO',
    hello: true,
    payload: bad(PacketType.SERIESBATCH, '{"session":"s","seq":"1","samples":[]}'),
    code: ErrorCode.BAD_FIELD,
    field: '/seq',
  },
  {
    name: 'sample value of the wrong type',
    hello: true,
    payload: bad(
      PacketType.SERIESBATCH,
      '{"session":"s","seq":1,"samples":[{"metric":"m","value":"7","timestamp":1}]}',
    ),
    code: ErrorCode.BAD_FIELD,
    field: '/samples/0/value',
  },
  {
    name: 'nesting too deep',
    hello: true,
    payload: bad(
      PacketType.SERIESBATCH,
      `{"session":"s","seq":1,"samples":[],"x":${'['.repeat(40)}${']'.repeat(40)}}`,
    ),
    code: ErrorCode.TOO_DEEP,
  },
  {
    name: 'string too long',
    hello: true,
    payload: bad(PacketType.SERIESBATCH, JSON.stringify({ session: 'x'.repeat(200), seq: 1, samples: [] })),
    code: ErrorCode.STRING_TOO_LONG,
    field: '/session',
  },
  {
    name: 'empty body',
    hello: true,
    payload: repeatFrame(encodeFrame(PacketType.SERIESDATA), COPIES),
    code: ErrorCode.EMPTY_BODY,
  },
  {
    name: 'oversized length header as the first frame',
    hello: false,
    payload: repeatFrame(frameHeader(MAX_FRAME + 1), COPIES),
    code: ErrorCode.FRAME_TOO_LARGE,
  },
  {
    name: 'length 0xffffffff after HELLO, then junk',
    hello: true,
    payload: Buffer.concat([repeatFrame(frameHeader(0xffffffff), COPIES), Buffer.alloc(256 * 1024, 0x41)]),
    code: ErrorCode.FRAME_TOO_LARGE,
  },
  {
    name: 'N = 0 as the first frame',
    hello: false,
    payload: repeatFrame(frameHeader(0), COPIES),
    code: ErrorCode.EMPTY_FRAME,
  },
  {
    name: 'N = 0 after HELLO',
    hello: true,
    payload: repeatFrame(frameHeader(0), COPIES),
    code: ErrorCode.EMPTY_FRAME,
  },
  {
    name: 'unknown type as the first frame',
    hello: false,
    payload: bad(200, '{}'),
    code: ErrorCode.UNKNOWN_TYPE,
  },
  {
    name: 'first unknown type (23) after HELLO',
    hello: true,
    payload: bad(23, '{}'),
    code: ErrorCode.UNKNOWN_TYPE,
  },
  {
    name: 'SERIESBATCH before HELLO',
    hello: false,
    payload: bad(PacketType.SERIESBATCH, batchJson('s', 1, 1)),
    code: ErrorCode.UNEXPECTED_PACKET,
  },
  {
    name: 'a type agents never send (HOSTCONFIGRESP) after HELLO',
    hello: true,
    payload: bad(PacketType.HOSTCONFIGRESP, '{"uuid":"u"}'),
    code: ErrorCode.UNEXPECTED_PACKET,
  },
  {
    name: 'FIN inside a frame after HELLO',
    hello: true,
    payload: Buffer.concat([frameHeader(100), Buffer.from([PacketType.SERIESBATCH]), Buffer.from('{"ses')]),
    endAfter: true,
    code: ErrorCode.TRUNCATED_FRAME,
  },
  {
    name: 'a v3 peer (first packet a valid HOSTHB) then an oversized length header',
    hello: false,
    prelude: encodePacket(PacketType.HOSTHB, { uuid: 'v3-then-bad' }),
    payload: repeatFrame(frameHeader(MAX_FRAME + 1), COPIES),
    code: ErrorCode.FRAME_TOO_LARGE,
  },
];

test('1,000 malformed frames per connection: coded ERROR then close; other agents lose nothing', async (t) => {
  const { relay, receiver, port } = await startRig(t);
  const good = await Promise.all([
    SteadyAgent.open(port, 'v3', 'good-v3-a'),
    SteadyAgent.open(port, 'v3', 'good-v3-b'),
    SteadyAgent.open(port, 'v3', 'good-v3-c'),
    SteadyAgent.open(port, 'v4', 'good-v4-a'),
  ]);
  const background = await SteadyAgent.open(port, 'v4', 'good-v4-background');
  const everyone = [...good, background];
  const goodRound = (n: number) => Promise.all(good.map((g) => g.round(n)));

  // Before.
  await goodRound(20);
  await background.round(20);

  // During: one agent streams batches the whole time (paced by its ACKs), and
  // every bad connection interleaves rounds of the others around its write.
  let done = false;
  const streaming = (async () => {
    for (let r = 0; r < 2000 && !done; r++) await background.round(10);
  })();
  const runBad = async (v: Variant): Promise<RawPeer> => {
    const peer = await RawPeer.connect(port);
    if (v.hello) await peer.hello(ZONE_TOKEN);
    if (v.prelude !== undefined) await peer.write(v.prelude);
    await goodRound(3);
    const written = peer.write(v.payload);
    if (v.endAfter === true) peer.end();
    await goodRound(3);
    await written;
    await peer.waitClosed(10_000).catch((err: unknown) => {
      throw new Error(`${v.name}: ${String(err)}`);
    });
    await goodRound(3);
    return peer;
  };
  const peers = await Promise.all(VARIANTS.map(runBad));
  done = true;
  await streaming;

  for (const [i, v] of VARIANTS.entries()) {
    const peer = peers[i] as RawPeer;
    t.is(peer.garbage, undefined, `${v.name}: relay output parses`);
    t.true(peer.gotEnd, `${v.name}: the relay closed its side`);
    const afterHello = v.hello ? peer.received.slice(1) : peer.received;
    if (v.hello) t.is(peer.received[0]?.type, PacketType.HELLO, `${v.name}: HELLO reply first`);
    if (v.prelude !== undefined && !v.hello) {
      t.is(peer.bytesReceived, 0, `${v.name}: a v3 peer gets no v4 packet`);
      continue;
    }
    t.is(afterHello.length, 1, `${v.name}: exactly one packet after HELLO`);
    t.like(afterHello[0], { type: PacketType.ERROR, body: { code: v.code } }, v.name);
    const field = afterHello[0]?.type === PacketType.ERROR ? afterHello[0].body.field : undefined;
    if (v.field !== undefined) t.is(field, v.field, `${v.name}: field`);
  }

  // After.
  await goodRound(20);
  await background.round(20);

  const sent = everyone.flatMap((g) => g.sent);
  await waitUpstream(receiver, sent, 15_000, 'all good samples upstream');
  t.deepEqual(
    exactlyOnceProblems(receiver.records, sent, new Set(everyone.map((g) => g.uuid))),
    [],
    'every good sample upstream exactly once',
  );
  t.log(`good samples sent and checked: ${sent.length}`);
  for (const g of everyone) {
    t.false(g.peer.closed, `${g.uuid} still connected`);
    t.deepEqual(g.peer.errors(), [], `${g.uuid} got no ERROR`);
  }
  // Only the one valid HOSTHB of the v3 variant came from a bad connection.
  const fromBad = receiver.records.filter(
    (r) => r.type !== PacketType.SERIESDATA && r.type !== PacketType.SERIESBATCH,
  );
  t.deepEqual(
    fromBad.map((r) => r.uuid),
    ['v3-then-bad'],
  );
  t.false(
    receiver.records.some((r) => r.type === PacketType.SERIESBATCH && r.uuid === ''),
    'no batch from a bad connection was spooled',
  );

  const expected = new Map<string, number>();
  for (const v of VARIANTS) expected.set(v.code, (expected.get(v.code) ?? 0) + 1);
  for (const [code, n] of expected) t.is(await agentErrorCount(relay, code), n, `metric for ${code}`);
  await eventually(
    () => relay.server.connectionCount === everyone.length,
    10_000,
    'bad connections gone from the relay',
  );
});

test('frames before a bad frame are handled, nothing after it is: batch 1 stored once, batch 2 never', async (t) => {
  const { receiver, port } = await startRig(t);
  const peer = await RawPeer.connect(port);
  await peer.hello(ZONE_TOKEN, 'pre-bad');
  const payload = Buffer.concat([
    encodeFrame(PacketType.SERIESBATCH, batchJson('pre', 1, 1)),
    repeatFrame(encodeFrame(PacketType.SERIESBATCH, '{"session":'), COPIES),
    encodeFrame(PacketType.SERIESBATCH, batchJson('pre', 2, 2)),
  ]);
  await peer.write(payload);
  await peer.waitClosed();
  t.like(peer.errors(), [{ code: ErrorCode.BAD_JSON }]);
  // A witness sent after the bad connection closed: once it is upstream,
  // anything the bad connection could have spooled is upstream too.
  const witness = await SteadyAgent.open(port, 'v4', 'witness');
  await witness.round(1);
  await waitUpstream(receiver, [sampleKey('witness', 0)], 10_000, 'witness upstream');
  const counts = upstreamSampleCounts(receiver.records);
  t.is(counts.get(sampleKey('pre-bad', 1)), 1, 'the batch before the bad frame is stored once');
  t.false(counts.has(sampleKey('pre-bad', 2)), 'the batch after the bad frame is never stored');
  // Its ACK may or may not have gone out before the close; if it did, it is the right one.
  for (const ack of peer.acks()) t.deepEqual(ack, { session: 'pre', seq: 1 });
});

const v3Sample = (uuid: string, value: number): Buffer =>
  encodePacket(PacketType.SERIESDATA, {
    uuid,
    ip: '127.0.0.1',
    group: '',
    timestamp: 1_700_000_000 + value,
    service_name: 'robust',
    metric: 'm',
    value,
    flag: 0,
  });

test('a v3 peer: bad packets between good ones in one write are dropped and counted, the good ones stored, the connection kept', async (t) => {
  const { relay, receiver, port } = await startRig(t);
  const uuid = 'v3-keeps-going';
  const peer = await RawPeer.connect(port);
  // The first packet makes it a v3 session (a bad first packet still closes: it has not spoken v3).
  await peer.write(encodePacket(PacketType.HOSTHB, { uuid }));
  const badOnes = [
    encodeFrame(PacketType.SERIESDATA, '{"uuid":'), // bad JSON
    encodeFrame(PacketType.SERIESDATA, JSON.stringify({ uuid, timestamp: 1, value: 'x' })), // bad fields
    encodeFrame(PacketType.SERIESDATA), // empty body
    encodeFrame(200, '{}'), // unknown type
  ];
  await peer.write(Buffer.concat([v3Sample(uuid, 1), ...badOnes, v3Sample(uuid, 2)]));
  await eventually(() => relay.server.droppedPackets === badOnes.length, 10_000, 'bad packets counted');
  // Later writes of the same connection are still read.
  await peer.write(Buffer.concat([v3Sample(uuid, 3), badOnes[0] as Buffer, v3Sample(uuid, 4)]));
  const keys = [1, 2, 3, 4].map((v) => sampleKey(uuid, v));
  await waitUpstream(receiver, keys, 10_000, 'good samples around the bad ones upstream');
  const counts = upstreamSampleCounts(receiver.records);
  t.deepEqual(
    keys.map((k) => counts.get(k)),
    [1, 1, 1, 1],
    'each good sample stored once',
  );
  t.is(relay.server.droppedPackets, badOnes.length + 1);
  t.false(peer.closed, 'the connection is kept');
  t.is(peer.bytesReceived, 0, 'a v3 peer gets no v4 packet (no ERROR)');
  t.is(await agentErrorCount(relay, ErrorCode.BAD_JSON), 0, 'no connection closed on bad content');
  const stored = receiver.records.filter((r) => r.uuid === uuid).map((r) => r.type);
  t.deepEqual(
    stored.filter((type) => type !== PacketType.SERIESDATA),
    [PacketType.HOSTHB],
    'nothing of a bad packet was stored',
  );

  // A framing error still closes a v3 peer, without an ERROR packet.
  await peer.write(Buffer.concat([v3Sample(uuid, 5), frameHeader(MAX_FRAME + 1)]));
  await peer.waitClosed();
  t.is(peer.bytesReceived, 0);
  await waitUpstream(receiver, [sampleKey(uuid, 5)], 10_000, 'the sample before the bad header');
  t.is(await agentErrorCount(relay, ErrorCode.FRAME_TOO_LARGE), 1);
});

test('a v4 peer keeps the strict rule: a bad packet after HELLO closes it with a coded ERROR', async (t) => {
  const { relay, port } = await startRig(t);
  const peer = await RawPeer.connect(port);
  await peer.hello(ZONE_TOKEN, 'v4-strict');
  await peer.write(
    Buffer.concat([
      encodeFrame(PacketType.SERIESBATCH, batchJson('strict', 1, 1)),
      encodeFrame(PacketType.SERIESBATCH, '{"session":'),
    ]),
  );
  await peer.waitClosed();
  t.like(peer.errors(), [{ code: ErrorCode.BAD_JSON }]);
  t.is(relay.server.droppedPackets, 0);
});
