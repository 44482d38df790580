/**
 * Write-and-close bursts: 1,000 short-lived v3 agents each send N SERIESDATA
 * frames and close at once, with end() straight after the writes or with
 * destroy() as soon as the write callback fires. Every frame written must be
 * spooled and arrive upstream exactly once (the v3 proxy dropped up to 20 per
 * connection here), and no connection may linger in the relay.
 */
import test from 'ava';
import { encodePacket, PacketType } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RawPeer } from '../helpers/agent-peer.js';
import { exactlyOnceProblems, sampleKey, startRig, waitUpstream, ZONE_TOKEN } from '../helpers/agent-rig.js';

const AGENTS = 1000;
const WAVE = 100;
const FRAMES = 25;
/** Agents dial from 127.0.0.1 … 127.0.0.SOURCES, like hosts of one zone. */
const SOURCES = 10;

type CloseStyle = 'end' | 'destroy';

function frames(uuid: string): Buffer[] {
  return Array.from({ length: FRAMES }, (_, value) =>
    encodePacket(PacketType.SERIESDATA, {
      uuid,
      ip: '127.0.0.1',
      group: '',
      timestamp: 1_700_000_000 + value,
      service_name: 'burst',
      metric: 'm',
      value,
      flag: 0,
    }),
  );
}

/** One agent's life: connect, write every frame, close the way `style` says. */
async function burst(port: number, index: number, style: CloseStyle): Promise<RawPeer> {
  const uuid = `${style}-${index}`;
  const peer = await RawPeer.connect(port, { localAddress: `127.0.0.${(index % SOURCES) + 1}` });
  const all = frames(uuid);
  if (style === 'end') {
    // One write() per frame, the last immediately followed by end(): nothing awaited.
    for (const f of all) peer.socket.write(f);
    peer.end();
  } else {
    // Everything in one write; destroy() the moment the kernel has the bytes.
    await new Promise<void>((resolve) => peer.socket.write(Buffer.concat(all), () => resolve()));
    peer.destroy();
  }
  return peer;
}

/** Agent `index` closes with end() when even, destroy() when odd: both kinds in every wave. */
const styleOf = (index: number): CloseStyle => (index % 2 === 0 ? 'end' : 'destroy');
const uuidOf = (index: number): string => `${styleOf(index)}-${index}`;

test.serial(
  '1,000 agents write N frames and close at once (end() / destroy()): all spooled, upstream exactly once',
  async (t) => {
    const started = Date.now();
    const { relay, receiver, port } = await startRig(t, {
      maxConnectionsPerSource: 2 * WAVE,
      spool: { maxBytes: 256 * 1024 * 1024 },
    });
    const peers: RawPeer[] = [];
    for (let wave = 0; wave < AGENTS / WAVE; wave++) {
      const batch = await Promise.all(
        Array.from({ length: WAVE }, (_, i) => burst(port, wave * WAVE + i, styleOf(wave * WAVE + i))),
      );
      // end(): the relay closes its side once everything received is durable; wait for that.
      // destroy(): our side is gone at once. Bounds the connections open at a time.
      await Promise.all(batch.map((p) => p.waitClosed(15_000)));
      peers.push(...batch);
    }
    const wavesDone = Date.now() - started;
    const sent = peers.flatMap((_, i) =>
      Array.from({ length: FRAMES }, (_v, value) => sampleKey(uuidOf(i), value)),
    );
    await waitUpstream(receiver, sent, 20_000, `${AGENTS * FRAMES} samples upstream`);
    const uuids = new Set(peers.map((_, i) => uuidOf(i)));
    t.deepEqual(exactlyOnceProblems(receiver.records, sent, uuids), [], 'every frame upstream exactly once');
    t.is(receiver.records.length, AGENTS * FRAMES);
    // Per agent, in the order written.
    const byAgent = new Map<string, number[]>();
    for (const r of receiver.records) {
      const body = JSON.parse(r.body) as { uuid: string; value: number };
      const list = byAgent.get(body.uuid) ?? [];
      list.push(body.value);
      byAgent.set(body.uuid, list);
    }
    const inOrder = [...byAgent.values()].every((v) => v.every((x, i) => x === i));
    t.true(inOrder, "each agent's samples upstream in the order written");
    const sources = new Set(receiver.records.map((r) => r.src));
    t.is(sources.size, SOURCES, 'the relay saw every source address');
    t.true(
      peers.every((p) => p.bytesReceived === 0),
      'v3 agents got nothing back (no ERROR)',
    );
    t.true(
      peers.every((p, i) => styleOf(i) === 'destroy' || (p.gotEnd && p.closeError === undefined)),
      'end() agents saw the relay close cleanly after storing',
    );
    await eventually(() => relay.server.connectionCount === 0, 10_000, 'no connection left in the relay');
    t.log(
      `${AGENTS} agents × ${FRAMES} frames: waves done at ${wavesDone} ms, all checked at ${Date.now() - started} ms`,
    );
  },
);

test.serial(
  'v4 agents that write their batches and half-close at once get every ACK, then the close',
  async (t) => {
    const agents = 200;
    const batches = 10;
    const { relay, receiver, port } = await startRig(t, { maxConnectionsPerSource: 2 * WAVE });
    const peers: RawPeer[] = [];
    for (let wave = 0; wave < agents / WAVE; wave++) {
      const batch = await Promise.all(
        Array.from({ length: WAVE }, async (_, i) => {
          const index = wave * WAVE + i;
          const peer = await RawPeer.connect(port, { localAddress: `127.0.0.${(index % SOURCES) + 1}` });
          await peer.hello(ZONE_TOKEN, `v4-${index}`);
          const frames = Array.from({ length: batches }, (_v, seq) =>
            encodePacket(PacketType.SERIESBATCH, {
              session: `session-${index}`,
              seq,
              samples: [{ metric: 'm', value: seq, timestamp_ms: 1_700_000_000_000 + seq }],
            }),
          );
          peer.socket.write(Buffer.concat(frames));
          peer.end();
          return peer;
        }),
      );
      await Promise.all(batch.map((p) => p.waitClosed(15_000)));
      peers.push(...batch);
    }
    for (const [index, peer] of peers.entries()) {
      const acked = peer.acks().map((a) => a.seq);
      if (acked.length !== batches || !acked.every((seq, i) => seq === i)) {
        t.fail(`v4-${index} got ACKs ${JSON.stringify(acked)}`);
        return;
      }
      if (!peer.gotEnd || peer.errors().length > 0) {
        t.fail(`v4-${index}: end=${peer.gotEnd} errors=${JSON.stringify(peer.errors())}`);
        return;
      }
    }
    const sent = peers.flatMap((_, index) =>
      Array.from({ length: batches }, (_v, seq) => sampleKey(`v4-${index}`, seq)),
    );
    await waitUpstream(receiver, sent, 20_000, `${agents * batches} batches upstream`);
    t.deepEqual(exactlyOnceProblems(receiver.records, sent, new Set(peers.map((_, i) => `v4-${i}`))), []);
    await eventually(() => relay.server.connectionCount === 0, 10_000, 'no connection left in the relay');
  },
);
