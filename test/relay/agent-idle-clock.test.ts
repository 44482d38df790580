/**
 * The agent idle timeout on a hand-driven clock (test/helpers/fake-timers.ts):
 * a real AgentServer on 127.0.0.1:0, real sockets, but time moves only when
 * the test says so. Between two steps of the clock every busy peer has
 * completed a frame (the test waits for the server to have it), so whether a
 * connection idles depends on frames, never on how loaded the machine is.
 */
import test, { type ExecutionContext } from 'ava';
import { createPacketParser, ErrorCode, PacketType, type PacketType as PT } from '../../protocol/index.js';
import { AccessPolicy, AgentServer, BatchDedupe, type AgentSink } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { frameHeader, RawPeer } from '../helpers/agent-peer.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const IDLE_MS = 30_000;
const STEP_MS = 5_000;

async function startServer(t: ExecutionContext, timers: FakeTimers) {
  let frames = 0;
  const sink: AgentSink = {
    spool: (requests) => {
      frames += requests.length;
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
    maxConnectionsPerSource: 100,
    parser: createPacketParser({ maxFrameBytes: 1 << 20 }),
    access: new AccessPolicy(['127.0.0.0/8'], undefined),
    dedupe: new BatchDedupe(),
    sink,
    idleTimeoutMs: IDLE_MS,
    maxPendingPackets: 4096,
    maxWriteBacklogBytes: 1 << 20,
    closeGraceMs: 1000,
    timers,
  });
  const [address] = await server.start();
  t.teardown(() => server.stop());
  return { port: address?.port ?? 0, frames: () => frames };
}

test('on a fake clock: silent and dripping peers close after exactly the idle timeout; a peer completing frames never does', async (t) => {
  const timers = new FakeTimers();
  const { port, frames } = await startServer(t, timers);
  const silent = await RawPeer.connect(port);
  const dripping = await RawPeer.connect(port);
  await dripping.write(frameHeader(100));
  const busy = await RawPeer.connect(port);
  const hb = (n: number): Promise<void> => busy.send(PacketType.HOSTHB as PT, { uuid: `busy-${n}` } as never);
  t.teardown(() => [silent, dripping, busy].forEach((p) => p.destroy()));

  const steps = IDLE_MS / STEP_MS;
  for (let i = 0; i < steps * 3; i++) {
    const before = frames();
    await hb(i);
    await eventually(() => frames() > before, 10_000, `frame ${i} handled`);
    if (!dripping.closed) await dripping.write(Buffer.from([0x20]));
    timers.advance(STEP_MS);
    if (i === steps - 2) t.false(silent.closed || dripping.closed, 'not before the idle timeout');
  }
  await silent.waitClosed();
  await dripping.waitClosed();
  t.deepEqual(
    silent.errors().map((e) => e.code),
    [ErrorCode.IDLE_TIMEOUT],
  );
  t.deepEqual(
    dripping.errors().map((e) => e.code),
    [ErrorCode.IDLE_TIMEOUT],
  );
  t.false(busy.closed, 'a peer completing frames stays open');
  t.is(frames(), steps * 3);
});
