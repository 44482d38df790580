/**
 * Idle timeout on the relay's agent side: peers that send nothing, or drip a
 * frame one byte at a time so that no frame ever completes (slow loris), are
 * closed once `idleTimeoutMs` passes without a complete frame: with ERROR
 * OWL_ERR_IDLE_TIMEOUT, or silently for a peer already identified as v3. Agents
 * that keep completing frames are unaffected and lose nothing.
 */
import test from 'ava';
import { encodePacket, ErrorCode, PacketType } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { frameHeader, RawPeer } from '../helpers/agent-peer.js';
import {
  agentErrorCount,
  exactlyOnceProblems,
  startRig,
  SteadyAgent,
  waitUpstream,
  ZONE_TOKEN,
} from '../helpers/agent-rig.js';

/**
 * Real time through a whole relay, so with room for a loaded machine (a busy agent once went
 * 400 ms without a frame handled during a full run); agent-idle-clock.test.ts pins the timing.
 */
const IDLE_MS = 1500;
/** Interval of the drip and of the well-behaved agents' sends: well inside IDLE_MS. */
const PACE_MS = 50;

/** Pacing of a sending peer (what it does, not a wait for the relay). */
const pace = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Loris {
  name: string;
  open: (port: number) => Promise<RawPeer>;
  /** Drip a frame one byte per PACE_MS after opening. */
  drip: boolean;
  /** v3 peer: closed without an ERROR. */
  v3: boolean;
}

const LORISES: Loris[] = [
  { name: 'silent from the start', open: (port) => RawPeer.connect(port), drip: false, v3: false },
  { name: 'drip before any frame', open: (port) => RawPeer.connect(port), drip: true, v3: false },
  {
    name: 'silent after HELLO',
    open: async (port) => {
      const p = await RawPeer.connect(port);
      await p.hello(ZONE_TOKEN);
      return p;
    },
    drip: false,
    v3: false,
  },
  {
    name: 'drip after HELLO',
    open: async (port) => {
      const p = await RawPeer.connect(port);
      await p.hello(ZONE_TOKEN);
      return p;
    },
    drip: true,
    v3: false,
  },
  {
    name: 'v3 (a valid HOSTHB first), then silent',
    open: async (port) => {
      const p = await RawPeer.connect(port);
      await p.send(PacketType.HOSTHB, { uuid: 'loris-v3-silent' });
      return p;
    },
    drip: false,
    v3: true,
  },
  {
    name: 'v3 (a valid SERIESDATA first), then drip',
    open: async (port) => {
      const p = await RawPeer.connect(port);
      await p.write(
        encodePacket(PacketType.SERIESDATA, {
          uuid: 'loris-v3-drip',
          timestamp: 1_700_000_000,
          metric: 'm',
          value: 1,
        }),
      );
      return p;
    },
    drip: true,
    v3: true,
  },
];

/** Send a 100-byte frame's header, then its body one byte per PACE_MS until closed (bounded). */
async function drip(peer: RawPeer): Promise<number> {
  await peer.write(frameHeader(100));
  let sent = 0;
  for (; sent < 99 && !peer.closed; sent++) {
    await peer.write(Buffer.from([sent === 0 ? PacketType.HOSTHB : 0x20]));
    await pace(PACE_MS);
  }
  return sent;
}

test('slow-loris and silent peers are closed after the idle timeout; busy agents are unaffected', async (t) => {
  const { relay, receiver, port } = await startRig(t, { idleTimeoutMs: IDLE_MS });
  const good = await Promise.all([
    SteadyAgent.open(port, 'v3', 'busy-v3'),
    SteadyAgent.open(port, 'v4', 'busy-v4'),
  ]);
  const started = Date.now();
  let lorisesDone = false;
  const busy = good.map(async (g) => {
    // Keep completing frames until every loris is gone and at least 3 idle periods have passed.
    for (let r = 0; r < 400 && (!lorisesDone || Date.now() - started < 3 * IDLE_MS); r++) {
      await g.round(1);
      await pace(PACE_MS);
    }
  });

  const results = await Promise.all(
    LORISES.map(async (l) => {
      const peer = await l.open(port);
      const opened = Date.now();
      const dripped = l.drip ? await drip(peer) : 0;
      await peer.waitClosed(IDLE_MS + 10_000);
      return { peer, opened, dripped };
    }),
  );
  lorisesDone = true;
  await Promise.all(busy);

  for (const [i, l] of LORISES.entries()) {
    const { peer, opened, dripped } = results[i] as (typeof results)[number];
    const lived = (peer.closedAt ?? 0) - opened;
    t.true(lived >= IDLE_MS - 50, `${l.name}: closed after ${lived} ms, not before the idle timeout`);
    t.true(peer.gotEnd, `${l.name}: the relay closed it`);
    if (l.drip) t.true(dripped >= 2, `${l.name}: bytes kept arriving (${dripped}) and it was still cut`);
    if (l.v3) {
      t.is(peer.bytesReceived, 0, `${l.name}: a v3 peer is closed without an ERROR`);
      continue;
    }
    const packets = peer.received.filter((p) => p.type !== PacketType.HELLO);
    t.like(packets, [{ type: PacketType.ERROR, body: { code: ErrorCode.IDLE_TIMEOUT } }], l.name);
    t.is(packets.length, 1, `${l.name}: only the ERROR`);
  }
  t.is(await agentErrorCount(relay, ErrorCode.IDLE_TIMEOUT), LORISES.length);

  for (const g of good) {
    t.false(g.peer.closed, `${g.uuid} still connected after ${Date.now() - started} ms`);
    t.deepEqual(g.peer.errors(), []);
  }
  const sent = good.flatMap((g) => g.sent);
  await waitUpstream(receiver, sent, 10_000, 'busy samples upstream');
  t.deepEqual(exactlyOnceProblems(receiver.records, sent, new Set(good.map((g) => g.uuid))), []);
  await eventually(() => relay.server.connectionCount === good.length, 10_000, 'only the busy agents left');
});

test('an idle timeout is about complete frames: a peer that completes a frame in time stays', async (t) => {
  const { port } = await startRig(t, { idleTimeoutMs: IDLE_MS });
  const peer = await RawPeer.connect(port);
  await peer.hello(ZONE_TOKEN);
  const heartbeat = encodePacket(PacketType.HOSTHB, { uuid: 'split-heartbeat' });
  // Each heartbeat arrives in two halves PACE_MS apart: partial frames in between, a
  // complete one every 2 * PACE_MS, for 3 idle periods.
  const until = Date.now() + 3 * IDLE_MS;
  for (let i = 0; i < 100 && Date.now() < until; i++) {
    await peer.write(heartbeat.subarray(0, 7));
    await pace(PACE_MS);
    await peer.write(heartbeat.subarray(7));
    await pace(PACE_MS);
  }
  t.false(peer.closed);
  t.deepEqual(peer.errors(), []);
  peer.destroy();
});
