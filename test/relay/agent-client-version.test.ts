/**
 * CLIENTVERSIONRESP only when a version is set (docs/protocol.md 5.3): a v3
 * td-client told "" would download `td-client-.tar.gz`. Real relay over TCP,
 * its version from a real uplink peer.
 */
import test from 'ava';
import { PacketType, type Host } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';

const UUID = '0cc175b9c0f1b6a831c399e269772661';
const HOST: Host = { uuid: UUID, services: [{ name: 'tcp', plugin: 'tcp_state.py', exec_interval: 60 }] };

async function relayWithVersion(t: { teardown: (fn: () => Promise<void>) => void }, version: string) {
  const receiver = await UplinkReceiver.start({
    relays: { [RELAY_ID]: RELAY_TOKEN },
    hosts: { [UUID]: HOST },
    version,
  });
  const dir = tempDir();
  const { relay, port } = await startRelay(receiver.url, dir.path);
  t.teardown(async () => {
    await relay.stop();
    await receiver.close();
    dir.remove();
  });
  await eventually(() => relay.cache.clientVersion === version, 10_000, `version "${version}" learned`);
  return port;
}

/** CLIENTVERSION then HOSTCONFIG: the relay answers CLIENTVERSION at once, so whatever it says comes first. */
async function ask(port: number): Promise<TestAgent> {
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.CLIENTVERSION, null);
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '127.0.0.1', hostname: 'h', kernel: 'k', os: 'linux' });
  await agent.until((a) => a.received.some((p) => p.type === PacketType.HOSTCONFIGRESP));
  return agent;
}

for (const version of ['', '  ']) {
  test(`no CLIENTVERSIONRESP while the version is ${JSON.stringify(version)}`, async (t) => {
    const agent = await ask(await relayWithVersion(t, version));
    t.deepEqual(
      agent.received.map((p) => p.type),
      [PacketType.HOSTCONFIGRESP],
    );
    t.false(agent.closed, 'the agent stays connected');
    agent.destroy();
  });
}

test('a set version is answered', async (t) => {
  const agent = await ask(await relayWithVersion(t, '3.2'));
  t.deepEqual(
    agent.received.map((p) => p.type),
    [PacketType.CLIENTVERSIONRESP, PacketType.HOSTCONFIGRESP],
  );
  t.like(agent.received[0], { body: { version: '3.2' } });
  agent.destroy();
});
