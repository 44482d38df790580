/**
 * Spool policy 'reject-new' on the relay's agent side. With the upstream
 * unreachable a small spool fills; a batch the spool refuses is answered:
 * ERROR OWL_ERR_OVERLOADED, then a close, so the agent keeps the batch,
 * reconnects with backoff and resends it (docs/protocol.md 7.3). Once the
 * upstream is back and the spool drains, the same agents get their ACKs again
 * without anyone reconnecting them, and every batch the relay ACKed reaches
 * the upstream once. The relay logs the refusing once as it starts and once
 * as it ends, not per batch or per connection, and counts refused connections.
 * The test agents' own ACK timeout (7.3) is checked against a peer that stops
 * acknowledging.
 */
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import test from 'ava';
import { pino } from 'pino';
import {
  defaultParser,
  encodePacket,
  ErrorCode,
  FrameDecoder,
  OwlError,
  PacketType,
} from '../../protocol/index.js';
import {
  Relay,
  resolveRelayConfig,
  SpoolError,
  SpoolErrorCode,
  SpoolRefusals,
  TEST_BACKOFF,
} from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RawPeer } from '../helpers/agent-peer.js';
import { agentErrorCount, ZONE_TOKEN } from '../helpers/agent-rig.js';
import { LoadAgent, loadBatch } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { batchKey, closedPort, UpstreamIndex } from '../helpers/upstream-check.js';

/** The smallest spool cap the relay accepts. */
const CAP = 1024 * 1024;
const AGENTS = 4;
/** Batches per agent of SAMPLES samples with noise (~2.5 KB stored each): together about 3 times CAP. */
const BATCHES = 300;
const SAMPLES = 100;
const REFUSING = 'spool refuses agent packets: agents are closed to reconnect and resend later';
const TAKING = 'spool takes agent packets again';

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

/** The batches `agents` had ACKed: how many, how many never arrived upstream, how many arrived altered. */
function checkAcked(
  index: UpstreamIndex,
  agents: readonly LoadAgent[],
): { acked: number; missing: number; altered: number } {
  const out = { acked: 0, missing: 0, altered: 0 };
  for (const { options, acked } of agents) {
    const { uuid, session } = options;
    for (const seq of acked) {
      out.acked++;
      const body = index.bodies.get(batchKey(uuid, session, seq));
      if (body === undefined) out.missing++;
      else if (body !== JSON.stringify(loadBatch(uuid, session, seq, SAMPLES, true))) out.altered++;
    }
  }
  return out;
}

/** A relay with a reject-new spool of CAP bytes, its log lines collected. */
async function startRejectingRelay(upstream: string, stateDir: string, logs: LogLine[]): Promise<Relay> {
  const config = resolveRelayConfig({
    metrics: { port: 0 },
    relayId: RELAY_ID,
    token: RELAY_TOKEN,
    upstreams: [upstream],
    stateDir,
    listen: [{ host: '127.0.0.1', port: 0 }],
    zoneToken: ZONE_TOKEN,
    spool: { maxBytes: CAP, policy: 'reject-new' },
    batch: { lingerMs: 5 },
  });
  const stream = { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) };
  return Relay.start(config, {
    logger: pino({ level: 'info' }, stream),
    backoff: TEST_BACKOFF,
    slowRetryMs: 200,
  });
}

test('reject-new: a refused batch gets OWL_ERR_OVERLOADED and a close; agents resend by themselves and every ACKed batch arrives', async (t) => {
  const upstreamPort = await closedPort();
  const dir = tempDir('owl-reject-new-');
  const logs: LogLine[] = [];
  const relay = await startRejectingRelay(`ws://127.0.0.1:${upstreamPort}/owl/v1/uplink`, dir.path, logs);
  const port = relay.addresses[0]?.port ?? 0;
  const agents = Array.from(
    { length: AGENTS },
    (_, i) =>
      new LoadAgent({
        uuid: String(i).repeat(32),
        session: `reject-${i}`,
        samples: SAMPLES,
        window: 8,
        token: ZONE_TOKEN,
        noise: true,
        reconnectMs: 20,
        ackTimeoutMs: 10_000,
      }),
  );
  const upstream: { receiver?: UplinkReceiver } = {};
  t.teardown(async () => {
    for (const a of agents) a.close();
    await relay.stop();
    await upstream.receiver?.close();
    dir.remove();
  });

  // Upstream unreachable: the spool fills, then refuses; each agent is told so and closed, and reconnects.
  await Promise.all(agents.map((a) => a.connect(port)));
  for (const a of agents) a.sendUpTo(BATCHES);
  await eventually(
    () => agents.every((a) => a.errors.includes(ErrorCode.OVERLOADED) && a.connects >= 2),
    30_000,
    'every agent refused with OWL_ERR_OVERLOADED and reconnected',
  );
  const stats = relay.spool.stats();
  t.true(stats.rejectedRecords > 0, 'the spool refused appends');
  t.is(stats.droppedRecords, 0, 'reject-new drops nothing');
  t.true(
    agents.every((a) => a.acked.size < BATCHES),
    'no agent got all its batches in while the upstream was down',
  );

  // Batches sent one at a time while the spool is full: ACKed while they fit, then one gets ERROR with
  // the retriable code and the relay closes; that batch is not ACKed.
  const probe = 'f'.repeat(32);
  const peer = await RawPeer.connect(port);
  await peer.hello(ZONE_TOKEN, probe);
  let seq = 0;
  while (!peer.closed) {
    await peer.send(PacketType.SERIESBATCH, loadBatch(probe, 'probe', ++seq, 1000, true));
    await peer.until((p) => p.closed || p.acks().some((a) => a.seq === seq), 10_000, `answer to ${seq}`);
  }
  t.deepEqual(
    peer.errors().map((e) => e.code),
    [ErrorCode.OVERLOADED],
  );
  t.true(peer.gotEnd, 'the relay closed the connection');
  t.false(
    peer.acks().some((a) => a.seq === seq),
    'the refused batch is not ACKed',
  );
  const refusedConnections = await agentErrorCount(relay, ErrorCode.OVERLOADED);
  t.true(refusedConnections >= AGENTS + 1, `refused connections counted (${refusedConnections})`);
  const refusingLines = logs.filter((l) => l.msg === REFUSING);
  t.true(refusingLines.length >= 1);
  t.true(
    refusingLines.length < refusedConnections,
    `refusing logged per state change (${refusingLines.length}), not per connection (${refusedConnections})`,
  );
  t.is((refusingLines[0] as LogLine)['cause'], SpoolErrorCode.FULL);

  // Upstream back: the spool drains and the agents, never reconnected by hand, get every batch ACKed.
  const r = await UplinkReceiver.start({ port: upstreamPort, relays: { [RELAY_ID]: RELAY_TOKEN } });
  upstream.receiver = r;
  await Promise.all(agents.map((a) => a.allAcked(60_000)));
  const index = new UpstreamIndex();
  await eventually(
    () => {
      index.addFrom(r.records);
      return checkAcked(index, agents).missing === 0;
    },
    20_000,
    'every ACKed batch upstream',
  );
  t.deepEqual(checkAcked(index, agents), { acked: AGENTS * BATCHES, missing: 0, altered: 0 });
  t.deepEqual(index.batchDuplicates(), [], 'no batch spooled twice');
  for (const a of agents) {
    t.deepEqual(new Set(a.errors), new Set([ErrorCode.OVERLOADED]), `${a.options.uuid}: only refusals`);
    t.is(a.ackTimeouts, 0, 'the relay answered every batch: no ACK timeout was needed');
  }

  // Refusing ends with the first packets made durable a while after the last refusal.
  const a0 = agents[0] as LoadAgent;
  let limit = BATCHES;
  await eventually(
    async () => {
      a0.sendUpTo(++limit);
      await a0.allAcked(10_000);
      return logs.some((l) => l.msg === TAKING);
    },
    10_000,
    'end of refusing logged',
  );
  const states = logs.filter((l) => l.msg === REFUSING || l.msg === TAKING).map((l) => l.msg);
  t.true(
    states.every((msg, i) => msg === (i % 2 === 0 ? REFUSING : TAKING)),
    `start and end of refusing alternate: ${states.length} lines`,
  );
  t.log(
    `${refusedConnections} refused connections before the upstream came back, ${states.length} state lines; ` +
      `${stats.rejectedRecords} appends refused; resent ${agents.reduce((n, a) => n + a.resentTotal, 0)} batches`,
  );
});

/** A peer that answers HELLO, and ACKs batches only on connections after the first. */
async function forgetfulPeer(): Promise<{
  port: number;
  seen: { connections: number };
  close: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const seen = { connections: 0 };
  const server = createServer((socket) => {
    const nth = ++seen.connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const packet = defaultParser.parse(frame);
        if (packet.type === PacketType.HELLO)
          socket.write(encodePacket(PacketType.HELLO, { version: 1, features: ['batch', 'ack'] }));
        else if (packet.type === PacketType.SERIESBATCH && nth > 1)
          socket.write(encodePacket(PacketType.ACK, { session: packet.body.session, seq: packet.body.seq }));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port: typeof address === 'object' && address !== null ? address.port : 0, seen, close };
}

test('the test agent drops a connection whose ACKs stop (ACK timeout) and resends on the next', async (t) => {
  const peer = await forgetfulPeer();
  const agent = new LoadAgent({
    uuid: 'a'.repeat(32),
    session: 'ack-timeout',
    samples: 1,
    window: 4,
    reconnectMs: 20,
    ackTimeoutMs: 300,
  });
  t.teardown(async () => {
    agent.close();
    await peer.close();
  });
  await agent.connect(peer.port);
  agent.sendUpTo(3);
  await agent.allAcked(10_000);
  t.is(agent.ackTimeouts, 1);
  t.is(agent.connects, 2);
  t.is(peer.seen.connections, 2);
  t.is(agent.resentTotal, 3);
});

test('refusing is logged once as it starts and once as it ends; appends that fit between refusals do not end it', (t) => {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const log = {
    warn: (obj: object, msg: string) => void lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => void lines.push({ level: 'info', obj, msg }),
  };
  let now = 1_000_000;
  const counted: string[] = [];
  const refusals = new SpoolRefusals({
    log,
    now: () => now,
    onRefused: (e) => counted.push(e.code),
    settleMs: 1000,
  });
  const error = new OwlError(ErrorCode.OVERLOADED, 'spool full', {
    retriable: true,
    cause: new SpoolError(SpoolErrorCode.FULL, 'spool is full'),
  });
  refusals.accepted();
  t.deepEqual(lines, [], 'nothing to log while appends succeed');
  for (let i = 0; i < 5; i++) {
    refusals.refused(`10.0.0.${i}`, error);
    now += 300;
    refusals.accepted(); // an append that fit, 300 ms after a refusal: still refusing
  }
  t.true(refusals.refusing);
  t.deepEqual(counted, Array(5).fill(ErrorCode.OVERLOADED), 'every refused connection counted');
  now += 1000;
  refusals.accepted();
  refusals.accepted();
  t.false(refusals.refusing);
  t.deepEqual(lines, [
    {
      level: 'warn',
      obj: { agent: '10.0.0.0', code: ErrorCode.OVERLOADED, cause: SpoolErrorCode.FULL },
      msg: REFUSING,
    },
    { level: 'info', obj: { refusedConnections: 5, refusingMs: 2500 }, msg: TAKING },
  ]);
});
