/**
 * Backpressure on the relay's agent side. An agent that stops reading while it
 * keeps sending (here: resending its batches, as an agent that never sees its
 * ACKs does) is paused: once its socket cannot take more, the relay stops
 * reading from it, so what the relay holds for it stays bounded, while other
 * agents flow; when it reads again everything is ACKed and stored once. A peer
 * that makes the relay queue more than its write-backlog cap (many requests
 * with large answers, read before any answer is written) is cut off with
 * OWL_ERR_WRITE_BACKLOG.
 */
import test from 'ava';
import { encodePacket, PacketType, type Host } from '../../protocol/index.js';
import { RelayErrorCode } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RawPeer } from '../helpers/agent-peer.js';
import {
  agentErrorCount,
  exactlyOnceProblems,
  relaySideOf,
  sampleKey,
  startRig,
  SteadyAgent,
  waitUpstream,
  ZONE_TOKEN,
} from '../helpers/agent-rig.js';

/** The relay's cap on unsent bytes per agent (relay.ts: maxWriteBacklogBytes). */
const MAX_WRITE_BACKLOG = 4 * 1024 * 1024;
/** A 128-unit session makes every ACK ~170 bytes, so fewer of them fill the socket buffers. */
const SESSION = 'S'.repeat(128);
const FRESH = 200;
/** Most bytes one socket read takes from the kernel (libuv's read buffer). */
const ONE_READ_BYTES = 64 * 1024;

const batch = (seq: number): Buffer =>
  encodePacket(PacketType.SERIESBATCH, {
    session: SESSION,
    seq,
    samples: [{ metric: 'm', value: seq, timestamp_ms: 1_700_000_000_000 + seq }],
  });

/** A host whose HOSTCONFIGRESP is ~64 KB: 16 services with 4,000-character args. */
function bigHost(uuid: string): Host {
  return {
    id: 7,
    uuid,
    services: Array.from({ length: 16 }, (_, i) => ({
      name: `svc-${i}`,
      plugin: 'p.sh',
      args: String(i % 10).repeat(4000),
      exec_interval: 60,
    })),
  };
}

test('an agent that never reads its ACKs is paused with a bounded backlog; others flow; all ACKed once it reads', async (t) => {
  const { relay, receiver, port } = await startRig(t);
  const a = await RawPeer.connect(port);
  await a.hello(ZONE_TOKEN, 'stalled');
  // 200 fresh batches, read and ACKed normally.
  await a.write(Buffer.concat(Array.from({ length: FRESH }, (_, i) => batch(i + 1))));
  await a.until((p) => p.countOf(PacketType.ACK) === FRESH, 10_000, 'fresh ACKs');
  t.true(a.acks().every((ack) => ack.duplicate === undefined));

  // Stop reading, and keep resending those batches (each resend is ACKed as a duplicate).
  a.pauseReading();
  const side = relaySideOf(relay, a);
  const perChunk = 5 * FRESH;
  const chunk = Buffer.concat(Array.from({ length: perChunk }, (_, i) => batch((i % FRESH) + 1)));
  // Settled stall: paused because its ACKs cannot leave (only a drain, i.e. the peer reading, lifts
  // that) with nothing awaiting durability (no ACK still to be queued).
  const writeBlocked = () =>
    side.socket.isPaused() && side.connection.flow.writeBlocked && side.connection.flow.pendingPackets === 0;
  let resent = 0;
  for (let i = 0; i < 400; i++) {
    // Stalled: the relay stopped reading (its ACKs cannot leave) and our own socket is backed up.
    if (writeBlocked() && a.socket.writableLength > 0) break;
    const ok = a.socket.write(chunk);
    resent += perChunk;
    if (!ok) {
      let drained = false;
      const onDrain = () => void (drained = true);
      a.socket.once('drain', onDrain);
      await eventually(
        () => drained || (writeBlocked() && a.socket.writableLength > 0),
        10_000,
        'drain or stall',
      );
      a.socket.off('drain', onDrain);
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  t.true(writeBlocked(), 'the relay paused reading from the agent that does not read');
  t.true(a.socket.writableLength > 0, 'backpressure reached the sender');
  const readAtStall = side.socket.bytesRead;
  const backlogAtStall = side.socket.writableLength;
  t.true(backlogAtStall <= MAX_WRITE_BACKLOG, `relay backlog for it: ${backlogAtStall} bytes`);

  // Meanwhile other agents are unaffected.
  const others = await Promise.all([
    SteadyAgent.open(port, 'v4', 'flowing-v4'),
    SteadyAgent.open(port, 'v3', 'flowing-v3'),
  ]);
  for (let r = 0; r < 10; r++) await Promise.all(others.map((o) => o.round(10)));
  const sent = others.flatMap((o) => o.sent);
  await waitUpstream(receiver, sent);
  // A paused socket still completes one more read into its own buffer (Node stops reading from the
  // kernel only once that buffer is past its high-water mark; libuv reads up to 64 KiB at a time),
  // so bytesRead may grow by one read. Nothing more is handled: no new ACK is queued (below).
  t.true(
    side.socket.bytesRead - readAtStall <= ONE_READ_BYTES,
    `read after the stall: ${side.socket.bytesRead - readAtStall} bytes`,
  );

  t.is(side.socket.writableLength, backlogAtStall, 'nothing more was queued for it');
  t.false(a.closed, 'paused, not cut off');

  // It reads again: the relay drains, resumes reading, and ACKs everything.
  const expectedAcks = FRESH + resent;
  a.resumeReading();
  await a.until((p) => p.countOf(PacketType.ACK) >= expectedAcks, 30_000, `${expectedAcks} ACKs`);
  const acks = a.acks();
  t.is(acks.length, expectedAcks, 'one ACK per batch frame sent');
  t.true(
    acks.slice(FRESH).every((ack) => ack.duplicate === true),
    'every resend ACKed as a duplicate',
  );
  await a.send(PacketType.SERIESBATCH, {
    session: SESSION,
    seq: FRESH + 1,
    samples: [{ metric: 'm', value: FRESH + 1, timestamp_ms: 1_700_000_000_000 }],
  });
  await a.until((p) => p.countOf(PacketType.ACK) > expectedAcks, 10_000, 'ACK of a new batch');
  t.deepEqual(a.acks().at(-1), { session: SESSION, seq: FRESH + 1 });
  t.deepEqual(a.errors(), []);

  const stalledKeys = Array.from({ length: FRESH + 1 }, (_, i) => sampleKey('stalled', i + 1));
  await waitUpstream(receiver, stalledKeys);
  t.deepEqual(
    exactlyOnceProblems(
      receiver.records,
      [...sent, ...stalledKeys],
      new Set(['stalled', ...others.map((o) => o.uuid)]),
    ),
    [],
    'each batch stored once however often it was resent',
  );
  t.log(`resent ${resent} batches before the stall; relay backlog ${backlogAtStall} bytes`);
});

test('a peer that makes the relay queue more than its write-backlog cap is cut off with OWL_ERR_WRITE_BACKLOG', async (t) => {
  const uuid = 'hoarder';
  const host = bigHost(uuid);
  const answerBytes = encodePacket(PacketType.HOSTCONFIGRESP, host).length;
  const { relay, receiver, port } = await startRig(t, {}, { [uuid]: host });
  const request = encodePacket(PacketType.HOSTCONFIG, { uuid });

  // Calibrate: how much of the relay's output the socket buffers absorb for a peer that stops reading.
  const probe = await RawPeer.connect(port);
  await probe.hello(ZONE_TOKEN, uuid);
  await probe.write(request);
  await probe.until((p) => p.received.some((x) => x.type === PacketType.HOSTCONFIGRESP), 10_000, 'answer');
  probe.pauseReading();
  const probeSide = relaySideOf(relay, probe);
  const group = Buffer.concat([request, request, request, request]);
  for (let i = 0; i < 500 && probeSide.socket.writableLength === 0; i++) {
    const before = probeSide.socket.bytesWritten;
    await probe.write(group);
    await eventually(
      () => probeSide.socket.bytesWritten >= before + 4 * answerBytes,
      10_000,
      'answers written',
    );
  }
  const absorbed = probeSide.socket.bytesWritten - probeSide.socket.writableLength;
  t.true(probeSide.socket.writableLength > 0, 'calibration filled the buffers');
  t.is(await agentErrorCount(relay, RelayErrorCode.WRITE_BACKLOG), 0, 'a paused reader is not cut off');
  probe.destroy();

  // The hoarder asks for twice that plus the cap in one write, so the relay reads every
  // request before the first answer is written.
  const count = Math.ceil((2 * absorbed + MAX_WRITE_BACKLOG) / answerBytes);
  const hoarder = await RawPeer.connect(port);
  await hoarder.hello(ZONE_TOKEN, uuid);
  hoarder.pauseReading();
  const side = relaySideOf(relay, hoarder);
  let maxBacklog = 0;
  const watch = setInterval(() => (maxBacklog = Math.max(maxBacklog, side.socket.writableLength)), 1);
  t.teardown(() => clearInterval(watch));
  await hoarder.write(Buffer.concat(Array.from({ length: count }, () => request)));

  const bystander = await SteadyAgent.open(port, 'v4', 'bystander');
  await eventually(
    async () => (await agentErrorCount(relay, RelayErrorCode.WRITE_BACKLOG)) === 1,
    15_000,
    'WRITE_BACKLOG cut-off',
  );
  clearInterval(watch);
  t.true(
    maxBacklog <= MAX_WRITE_BACKLOG + 1024,
    `relay backlog for the hoarder peaked at ${maxBacklog} bytes`,
  );
  // Reading now, it gets what was queued, then the ERROR, then the close.
  hoarder.resumeReading();
  await hoarder.waitClosed(15_000);
  t.true(hoarder.gotEnd || hoarder.closeError !== undefined, 'closed by the relay');
  const last = hoarder.received.at(-1);
  if (hoarder.closeError === undefined) {
    t.like(last, { type: PacketType.ERROR, body: { code: RelayErrorCode.WRITE_BACKLOG } });
  } else {
    t.log(`closed with ${hoarder.closeError.message} before the ERROR was read`);
  }
  await eventually(
    () => ![...relay.server.openConnections].some((c) => c.closed),
    10_000,
    'the cut connection is gone',
  );

  for (let r = 0; r < 5; r++) await bystander.round(10);
  await waitUpstream(receiver, bystander.sent);
  t.false(bystander.peer.closed);
  t.log(`buffers absorbed ${absorbed} bytes; ${count} requests of ${answerBytes}-byte answers`);
});
