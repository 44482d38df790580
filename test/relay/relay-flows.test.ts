/**
 * Relay end to end: real agents over TCP, the real relay (RocksDB spool on a
 * temp dir), a receiving peer speaking the real uplink protocol.
 */
import test from 'ava';
import { encodeFrame, encodePacket, PacketType, UPLINK_PATH, type Host } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { freeTcpPort } from '../helpers/tsdb.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const HOST: Host = {
  id: 1,
  uuid: UUID,
  ip: '127.0.0.1',
  services: [{ name: 'tcp', plugin: 'tcp_state.py', exec_interval: 60, items: {} }],
};

async function setup(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  hosts: Record<string, Host> = {},
) {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN }, hosts });
  const dir = tempDir();
  const { relay, port } = await startRelay(receiver.url, dir.path, { zoneToken: 'zone-token-123' });
  t.teardown(async () => {
    await relay.stop();
    await receiver.close();
    dir.remove();
  });
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink connected');
  return { receiver, relay, port };
}

test('a v3 agent: HOSTCONFIG answered, CLIENTVERSION answered, samples and heartbeats forwarded once', async (t) => {
  const { receiver, relay, port } = await setup(t, { [UUID]: HOST });
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.HOSTCONFIG, {
    uuid: UUID,
    ip: '127.0.0.1',
    hostname: 'h1',
    os: 'linux',
    kernel: '6.1',
  });
  const resp = await agent.next(PacketType.HOSTCONFIGRESP);
  t.deepEqual(resp.body, HOST);
  await eventually(() => relay.cache.clientVersion !== null, 10_000, 'version fetched at connect');
  agent.send(PacketType.CLIENTVERSION, null);
  t.deepEqual((await agent.next(PacketType.CLIENTVERSIONRESP)).body, { version: '3.1' });
  for (let i = 0; i < 50; i++) {
    agent.send(PacketType.SERIESDATA, {
      uuid: UUID,
      ip: '127.0.0.1',
      group: '',
      timestamp: 1_700_000_000 + i,
      service_name: 'tcp',
      metric: 'TCP_LISTEN',
      value: i + 0.5,
      flag: 0,
    });
  }
  agent.send(PacketType.HOSTHB, { uuid: UUID });
  await eventually(() => receiver.records.length === 51, 10_000, '51 records upstream');
  const series = receiver.records.filter((r) => r.type === PacketType.SERIESDATA);
  t.is(series.length, 50);
  // In the agent's order, exactly as sent.
  t.deepEqual(
    series.map((r) => (JSON.parse(r.body) as { value: number }).value),
    Array.from({ length: 50 }, (_, i) => i + 0.5),
  );
  t.is(receiver.records.at(-1)?.type, PacketType.HOSTHB);
  t.is(receiver.records[0]?.src, '127.0.0.1');
  t.false(
    agent.received.some((p) => p.type > PacketType.GUARDHB),
    'a v3 agent gets only v3 packets',
  );
  agent.destroy();
});

test('a v4 agent: HELLO, batches ACKed once durable, a resent batch is ACKed as duplicate and stored once', async (t) => {
  const { receiver, port } = await setup(t);
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.HELLO, {
    version: 1,
    features: ['batch', 'ack'],
    uuid: UUID,
    token: 'zone-token-123',
  });
  t.is((await agent.next(PacketType.HELLO)).body.version, 1);
  const batch = (seq: number) => ({
    session: 's1',
    seq,
    samples: Array.from({ length: 100 }, (_, i) => ({
      metric: 'cpu.user',
      value: i,
      timestamp_ms: 1_700_000_000_000 + i,
    })),
  });
  for (let seq = 1; seq <= 5; seq++) agent.send(PacketType.SERIESBATCH, batch(seq));
  for (let seq = 1; seq <= 5; seq++)
    t.deepEqual((await agent.next(PacketType.ACK)).body, { session: 's1', seq });
  agent.send(PacketType.SERIESBATCH, batch(3)); // the ACK was "lost"
  t.deepEqual((await agent.next(PacketType.ACK)).body, { session: 's1', seq: 3, duplicate: true });
  await eventually(() => receiver.records.length === 5, 10_000, '5 batches upstream');
  t.deepEqual(
    receiver.records.map((r) => (JSON.parse(r.body) as { seq: number }).seq),
    [1, 2, 3, 4, 5],
  );
  t.true(
    receiver.records.every((r) => r.uuid === UUID),
    'records carry the HELLO uuid',
  );
  agent.destroy();
});

test('a wrong zone token is refused with OWL_ERR_UNAUTHENTICATED; the relay keeps serving others', async (t) => {
  const { receiver, port } = await setup(t);
  const bad = await TestAgent.connect(port);
  bad.send(PacketType.HELLO, { version: 1, token: 'wrong-token-000' });
  const err = await bad.next(PacketType.ERROR);
  t.is(err.body.code, 'OWL_ERR_UNAUTHENTICATED');
  await bad.waitClosed();
  const good = await TestAgent.connect(port);
  good.send(PacketType.HOSTHB, { uuid: UUID });
  await eventually(() => receiver.records.length === 1);
  good.destroy();
});

test('a config pushed upstream reaches the connected agent within 2 s', async (t) => {
  const { receiver, relay, port } = await setup(t, { [UUID]: HOST });
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID });
  await agent.next(PacketType.HOSTCONFIGRESP);
  const changed: Host = { ...HOST, services: [{ name: 'cpu', plugin: 'cpu.sh', exec_interval: 10 }] };
  receiver.pushConfig(UUID, changed);
  t.deepEqual((await agent.next(PacketType.HOSTCONFIGRESP, 2000)).body, changed);
  agent.destroy();
  t.deepEqual(await relay.cache.getHost(UUID), changed);
});

test('HOSTCONFIG is answered from the cache across a relay restart while the upstream is down', async (t) => {
  const receiver = await UplinkReceiver.start({
    relays: { [RELAY_ID]: RELAY_TOKEN },
    hosts: { [UUID]: HOST },
  });
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const url = receiver.url;
  const first = await startRelay(url, dir.path);
  await eventually(() => first.relay.uplink.state === 'connected');
  const a = await TestAgent.connect(first.port);
  a.send(PacketType.HOSTCONFIG, { uuid: UUID });
  await a.next(PacketType.HOSTCONFIGRESP);
  a.destroy();
  await first.relay.stop();
  await receiver.close();
  const second = await startRelay(url, dir.path);
  t.teardown(() => second.relay.stop());
  const b = await TestAgent.connect(second.port);
  b.send(PacketType.HOSTCONFIG, { uuid: UUID });
  t.deepEqual((await b.next(PacketType.HOSTCONFIGRESP)).body, HOST);
  t.not(second.relay.uplink.state, 'connected');
  b.destroy();
});

test('an uncached HOSTCONFIG while the uplink is not connected is held and answered once it connects', async (t) => {
  const port = await freeTcpPort();
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const { relay, port: agentPort } = await startRelay(`ws://127.0.0.1:${port}${UPLINK_PATH}`, dir.path);
  t.teardown(() => relay.stop());
  const agent = await TestAgent.connect(agentPort);
  t.teardown(() => agent.destroy());
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID });
  // The upstream comes up only now: the relay has nothing cached and nothing connected so far.
  t.not(relay.uplink.state, 'connected');
  const receiver = await UplinkReceiver.start({
    port,
    relays: { [RELAY_ID]: RELAY_TOKEN },
    hosts: { [UUID]: HOST },
  });
  t.teardown(() => receiver.close());
  t.deepEqual(
    (await agent.next(PacketType.HOSTCONFIGRESP, 15_000)).body,
    HOST,
    'answered without asking again',
  );
});

test('frames before a bad one in the same write are spooled, then the connection ends', async (t) => {
  const { receiver, port } = await setup(t);
  const agent = await TestAgent.connect(port);
  const frames: Buffer[] = [];
  for (let i = 0; i < 5; i++) {
    frames.push(
      encodePacket(PacketType.SERIESDATA, {
        uuid: UUID,
        timestamp: 1_700_000_000 + i,
        metric: 'm',
        value: i,
      }),
    );
  }
  const oversized = Buffer.alloc(4);
  oversized.writeUInt32BE(0xffffffff);
  agent.sendRaw(Buffer.concat([...frames, oversized]));
  await agent.waitClosed();
  await eventually(() => receiver.records.length === 5, 10_000, 'the 5 good frames upstream');
  t.deepEqual(
    receiver.records.map((r) => (JSON.parse(r.body) as { value: number }).value),
    [0, 1, 2, 3, 4],
  );
  t.false(
    agent.received.some((p) => p.type === PacketType.ERROR),
    'a v3 agent gets no ERROR',
  );
});

test('v3 frames written in pieces cut at random points (runs of frames cross reads, other packets and hosts between) arrive once, in order, byte for byte', async (t) => {
  const { receiver, port } = await setup(t);
  const agent = await TestAgent.connect(port);
  const OTHER = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const sent: { type: number; body: string }[] = [];
  for (let i = 0; i < 400; i++) {
    const uuid = i >= 200 && i < 260 ? OTHER : UUID;
    if (i % 50 === 49) {
      sent.push({ type: PacketType.HOSTHB, body: JSON.stringify({ uuid }) });
      continue;
    }
    // Every third frame not in the v3 Go field order (the scan's general path).
    const body =
      i % 3 === 0
        ? { metric: `m${i}`, value: i, uuid, timestamp: 1_700_000_000 + i }
        : {
            uuid,
            ip: '10.0.0.1',
            group: 'g',
            timestamp: 1_700_000_000 + i,
            service_name: 's',
            metric: `m${i}`,
            value: i,
            flag: 0,
          };
    sent.push({ type: PacketType.SERIESDATA, body: JSON.stringify(body) });
  }
  const stream = Buffer.concat(sent.map((p) => encodeFrame(p.type, p.body)));
  let seed = 7;
  const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let at = 0; at < stream.length;) {
    const n = 1 + (next() % 900);
    await new Promise<void>((resolve) => agent.socket.write(stream.subarray(at, at + n), () => resolve()));
    at += n;
  }
  await eventually(() => receiver.records.length === sent.length, 10_000, `${sent.length} records upstream`);
  t.deepEqual(
    receiver.records.map((r) => ({ type: r.type, body: r.body })),
    sent,
  );
  t.true(receiver.records.every((r) => r.src === '127.0.0.1' && r.uuid === UUID));
  agent.destroy();
});
