/**
 * Connection caps on the relay's agent listener: over `maxConnections`, or over
 * `maxConnectionsPerSource` from one address, a connection gets ERROR
 * OWL_ERR_TOO_MANY_CONNECTIONS and is closed, nothing it sent is spooled, the
 * admitted agents keep working, and a slot freed by a close is usable again;
 * unless the source has a connection idle past `evictIdleMs`: then the
 * longest-idle one gives way (on a hand-driven clock, last test).
 * Other source addresses are 127.0.0.2, 127.0.0.3 (Linux routes 127/8 to lo).
 */
import test, { type ExecutionContext } from 'ava';
import { createPacketParser, encodePacket, ErrorCode, PacketType } from '../../protocol/index.js';
import { AccessPolicy, AgentServer, BatchDedupe, type AgentSink } from '../../relay/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { eventually } from '../helpers/agent-client.js';
import { RawPeer, type PeerOptions } from '../helpers/agent-peer.js';
import {
  exactlyOnceProblems,
  rejectedCount,
  startRig,
  SteadyAgent,
  waitUpstream,
  type Rig,
} from '../helpers/agent-rig.js';

/** Dial, optionally write a sample, and expect the refusal: one ERROR, then the relay's close. */
async function expectRefused(
  t: ExecutionContext,
  port: number,
  options: PeerOptions,
  what: string,
): Promise<void> {
  const peer = await RawPeer.connect(port, options);
  await peer.waitClosed();
  t.like(peer.received, [{ type: PacketType.ERROR, body: { code: ErrorCode.TOO_MANY_CONNECTIONS } }], what);
  t.is(peer.received.length, 1, `${what}: only the ERROR`);
  t.true(peer.gotEnd, `${what}: closed by the relay`);
}

/** The relay counts `n` open agent connections (accept runs after the client's connect). */
async function relayCounts(rig: Rig, n: number): Promise<void> {
  await eventually(() => rig.relay.server.connectionCount === n, 10_000, `relay counts ${n} connections`);
}

test('maxConnections: the 6th connection is refused with a coded ERROR, the 5 keep working, a freed slot is reused', async (t) => {
  const rig = await startRig(t, { maxConnections: 5 });
  const { relay, receiver, port } = rig;
  const agents: SteadyAgent[] = [];
  for (let i = 0; i < 5; i++) {
    agents.push(await SteadyAgent.open(port, i % 2 === 0 ? 'v3' : 'v4', `capped-${i}`));
    await relayCounts(rig, i + 1);
  }
  await Promise.all(agents.map((a) => a.round(5)));

  await expectRefused(t, port, {}, '6th connection');
  // A refused peer that talks at once: what it sent is never read, let alone spooled.
  const eager = await RawPeer.connect(port);
  eager.socket.write(encodePacket(PacketType.HOSTHB, { uuid: 'refused-eager' }), () => undefined);
  await eager.waitClosed();
  t.like(eager.errors(), [{ code: ErrorCode.TOO_MANY_CONNECTIONS }]);
  t.is(await rejectedCount(relay, ErrorCode.TOO_MANY_CONNECTIONS), 2);
  t.is(relay.server.connectionCount, 5);

  // The 5 are unaffected.
  await Promise.all(agents.map((a) => a.round(5)));
  for (const a of agents) t.false(a.peer.closed, `${a.uuid} still open`);

  // Free one slot: the next connection is admitted (the count was released on close).
  const leaving = agents.shift() as SteadyAgent;
  leaving.peer.destroy();
  await relayCounts(rig, 4);
  const late = await SteadyAgent.open(port, 'v4', 'capped-late');
  await late.round(5);
  agents.push(late);
  await expectRefused(t, port, {}, 'over the cap again');

  const sent = [leaving, ...agents].flatMap((a) => a.sent);
  await waitUpstream(receiver, sent);
  const uuids = new Set([leaving, ...agents].map((a) => a.uuid));
  t.deepEqual(exactlyOnceProblems(receiver.records, sent, uuids), []);
  t.false(
    receiver.records.some((r) => r.uuid === 'refused-eager'),
    'nothing from a refused connection is spooled',
  );
});

test('maxConnectionsPerSource: counted per source address, refused with a coded ERROR, released on close', async (t) => {
  const rig = await startRig(t, { maxConnections: 100, maxConnectionsPerSource: 2 });
  const { receiver, port } = rig;
  const open = async (localAddress: string, uuid: string, expectTotal: number): Promise<SteadyAgent> => {
    const a = await SteadyAgent.open(port, 'v4', uuid, { localAddress });
    await relayCounts(rig, expectTotal);
    return a;
  };
  const two1 = await open('127.0.0.2', 'src2-a', 1);
  const two2 = await open('127.0.0.2', 'src2-b', 2);
  await expectRefused(t, port, { localAddress: '127.0.0.2' }, '3rd from 127.0.0.2');
  // Other sources are not affected by 127.0.0.2 being at its cap.
  const three1 = await open('127.0.0.3', 'src3-a', 3);
  const three2 = await open('127.0.0.3', 'src3-b', 4);
  await expectRefused(t, port, { localAddress: '127.0.0.3' }, '3rd from 127.0.0.3');
  const one1 = await open('127.0.0.1', 'src1-a', 5);
  await expectRefused(t, port, { localAddress: '127.0.0.2' }, '127.0.0.2 still at its cap');

  // Closing one from 127.0.0.2 frees exactly one slot there.
  two1.peer.destroy();
  await relayCounts(rig, 4);
  const two3 = await open('127.0.0.2', 'src2-c', 5);
  await expectRefused(t, port, { localAddress: '127.0.0.2' }, '127.0.0.2 full again');

  const live = [two2, three1, three2, one1, two3];
  await Promise.all(live.map((a) => a.round(4)));
  for (const a of live) t.false(a.peer.closed, `${a.uuid} still open`);
  const sent = live.flatMap((a) => a.sent);
  await waitUpstream(receiver, sent);
  t.deepEqual(exactlyOnceProblems(receiver.records, sent, new Set(live.map((a) => a.uuid))), []);
  const srcOf = new Map(receiver.records.map((r) => [r.uuid, r.src]));
  t.deepEqual(
    live.map((a) => srcOf.get(a.uuid)),
    ['127.0.0.2', '127.0.0.3', '127.0.0.3', '127.0.0.1', '127.0.0.2'],
    'records carry the source address the cap was counted for',
  );
  t.is(await rejectedCount(rig.relay, ErrorCode.TOO_MANY_CONNECTIONS), 4);
});

test('a source at its cap: its longest-idle connection gives way to a new one; busy ones never do', async (t) => {
  const timers = new FakeTimers();
  const spooled: string[] = [];
  const evictions: { source: string; idleMs: number }[] = [];
  const sink: AgentSink = {
    spool: (requests) => {
      for (const r of requests) spooled.push(r.uuid);
      return Promise.resolve();
    },
    hostConfig: () => Promise.resolve(null),
    clientVersion: () => null,
    attach: () => undefined,
    detach: () => undefined,
  };
  const server = new AgentServer({
    listen: [{ host: '127.0.0.1', port: 0 }],
    maxConnections: 100,
    maxConnectionsPerSource: 2,
    evictIdleMs: 45_000,
    parser: createPacketParser(),
    access: new AccessPolicy(['127.0.0.0/8'], undefined),
    dedupe: new BatchDedupe(),
    sink,
    idleTimeoutMs: 90_000,
    maxPendingPackets: 4096,
    maxWriteBacklogBytes: 1 << 20,
    closeGraceMs: 1000,
    timers,
    onEvict: (source, _c, idleMs) => evictions.push({ source, idleMs }),
  });
  const [address] = await server.start();
  t.teardown(() => server.stop());
  const port = address?.port ?? 0;
  const src = { localAddress: '127.0.0.2' };
  /** A v3 heartbeat from `peer`, waited for until the server has it (the clock only moves after). */
  const beat = async (peer: RawPeer, uuid: string): Promise<void> => {
    const before = spooled.length;
    await peer.send(PacketType.HOSTHB, { uuid });
    await eventually(() => spooled.length > before, 10_000, `HOSTHB of ${uuid} handled`);
  };
  const counts = (n: number) => eventually(() => server.connectionCount === n, 10_000, `${n} connections`);

  const old = await RawPeer.connect(port, src);
  await beat(old, 'old');
  const busy = await RawPeer.connect(port, src);
  await beat(busy, 'busy');
  await counts(2);
  t.teardown(() => [old, busy].forEach((p) => p.destroy()));
  await expectRefused(t, port, src, 'at the cap, nobody idle');

  timers.advance(30_000);
  await beat(busy, 'busy');
  timers.advance(20_000); // old: idle 50 s; busy: 20 s
  const fresh = await RawPeer.connect(port, src);
  t.teardown(() => fresh.destroy());
  await old.waitClosed();
  t.is(old.bytesReceived, 0, 'the evicted v3 peer gets no v4 packet');
  await beat(fresh, 'fresh');
  t.false(busy.closed, 'the busy connection stays');
  t.deepEqual(evictions, [{ source: '127.0.0.2', idleMs: 50_000 }]);
  t.is(server.evictedConnections, 1);
  await counts(2);

  // Nobody idle long enough now (busy 20 s, fresh 0 s): refused again.
  await expectRefused(t, port, src, 'at the cap again, nobody idle');
  t.is(server.evictedConnections, 1);
});
