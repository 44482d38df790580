/** TLS on both relay links, and the Prometheus endpoint. */
import test from 'ava';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { get } from 'node:http';
import { defaultParser, encodePacket, FrameDecoder, PacketType, type Packet } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { makeTestPki } from '../helpers/tls.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';

test('agents over TLS and the uplink over wss:// (CA-verified): samples arrive', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const pki = makeTestPki(dir.path);
  const receiver = await UplinkReceiver.start({
    relays: { [RELAY_ID]: RELAY_TOKEN },
    tls: { key: pki.key, cert: pki.cert },
  });
  t.teardown(() => receiver.close());
  t.true(receiver.url.startsWith('wss://'));
  const { relay, port } = await startRelay(receiver.url, `${dir.path}/state`, {
    agentTls: { cert: pki.certFile, key: pki.keyFile },
    uplinkTls: { ca: pki.caFile },
  });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'wss uplink connected');
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca, servername: 'localhost' });
  await once(socket, 'secureConnect');
  t.true(socket.authorized);
  const got: Packet[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (c: Buffer) => decoder.push(c).forEach((f) => got.push(defaultParser.parse(f))));
  socket.write(encodePacket(PacketType.HOSTHB, { uuid: UUID }));
  await eventually(() => receiver.records.length === 1, 10_000, 'record upstream');
  t.is(receiver.records[0]?.type, PacketType.HOSTHB);
  socket.destroy();
});

test('an uplink to a wss:// upstream whose certificate is not trusted never connects', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const pki = makeTestPki(dir.path);
  const receiver = await UplinkReceiver.start({
    relays: { [RELAY_ID]: RELAY_TOKEN },
    tls: { key: pki.key, cert: pki.cert },
  });
  t.teardown(() => receiver.close());
  const { relay } = await startRelay(receiver.url, `${dir.path}/state`);
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.failedAttempts >= 3, 10_000, 'three failed attempts');
  t.not(relay.uplink.state, 'connected');
  t.is(receiver.connectsTotal, 0);
});

test('/metrics serves owl_relay_* figures on loopback when enabled', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const { relay, port } = await startRelay(receiver.url, dir.path, {
    metrics: { enabled: true, host: '127.0.0.1', port: 0 },
  });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected');
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.SERIESDATA, { uuid: UUID, timestamp: 1, metric: 'm', value: 1 });
  await eventually(() => receiver.records.length === 1);
  const addr = relay.metricsAddress;
  t.truthy(addr);
  t.is(addr?.address, '127.0.0.1');
  const text = await new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port: addr?.port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  t.regex(text, /owl_relay_agent_frames_total\{type="SERIESDATA"\} 1/);
  t.regex(text, /owl_relay_agents_connected 1/);
  t.regex(text, /owl_relay_uplink_connected 1/);
  t.regex(text, /owl_relay_spool_dropped_samples_total 0/);
  t.regex(text, /^owl_relay_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE'));
  // The relay's own, and the process/Node defaults (on the relay's registry).
  for (const line of types) t.regex(line, /^# TYPE (owl_relay|process|nodejs)_[a-z0-9_]+ /);
  t.true(types.some((l) => l.startsWith('# TYPE process_')));
  for (const line of types.filter((l) => / \w+_total /.test(l))) {
    t.regex(line, / counter$/, `a _total is a counter: ${line}`);
  }
  t.true(types.includes('# TYPE owl_relay_spool_dropped_records_total counter'));
  agent.destroy();
});
