/** Agents → real relay → real upstream: stored once, queryable, configs served. */
import test from 'ava';
import { PacketType } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay, tempDir } from '../helpers/relay-harness.js';
import { api, startUpstream } from '../helpers/upstream-harness.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';

test('v3 samples through a relay are stored once as <service>.<metric> with uuid, ip and zone tags', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const up = await startUpstream(`${dir.path}/up`);
  t.teardown(() => up.stop());
  const added = await api(up, 'POST', '/api/v1/relays', { id: 'plant-1' });
  t.is(added.status, 201);
  const token = (added.body as { token: string }).token;
  const { relay, port } = await startRelay(up.uplinkUrl, `${dir.path}/relay`, { relayId: 'plant-1', token });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink');
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.HOSTCONFIG, {
    uuid: UUID,
    ip: '10.0.0.5',
    hostname: 'web-5',
    os: 'linux',
    kernel: '6.1',
  });
  const resp = await agent.next(PacketType.HOSTCONFIGRESP);
  t.is(resp.body.uuid, UUID);
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 100; i++) {
    agent.send(PacketType.SERIESDATA, {
      uuid: UUID,
      ip: '10.0.0.5',
      group: '',
      timestamp: now - 100 + i,
      service_name: 'tcp',
      metric: 'TCP_LISTEN',
      value: i,
      flag: 0,
    });
  }
  await eventually(async () => (await up.store.stats()).points === 100, 15_000, '100 points stored');
  const q = await api(up, 'GET', `/api/v1/query?metric=tcp.TCP_LISTEN&since=1h`);
  const series = q.body as { tags: Record<string, string>; values: number[] }[];
  t.is(series.length, 1);
  t.deepEqual(series[0]?.tags, { uuid: UUID, ip: '10.0.0.5', zone: 'plant-1' });
  t.deepEqual(
    series[0]?.values,
    Array.from({ length: 100 }, (_, i) => i),
  );
  const hosts = await api(up, 'GET', '/api/v1/hosts');
  t.is((hosts.body as { zone: string }[])[0]?.zone, 'plant-1');
  t.is((hosts.body as { agent: string }[])[0]?.agent, 'v3', 'a HELLO-less agent shows as v3');
  agent.destroy();
});
