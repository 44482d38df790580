/**
 * examples/ (docs/operations.md): each program's example config loads through that program's own
 * loader and schema, and the three fit together (ports, zone token, relay id).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { checkAgentConfig, resolveAgentConfig } from '../agent/index.js';
import { loadRelayConfig } from '../relay/index.js';
import { loadUpstreamConfig } from '../upstream/index.js';

const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

test('examples/upstream.json loads through loadUpstreamConfig', (t) => {
  const config = loadUpstreamConfig(example('upstream.json'));
  t.deepEqual(config.uplink, { host: '0.0.0.0', port: 7080 });
  t.deepEqual(config.agents, [{ host: '0.0.0.0', port: 7071 }]);
  t.deepEqual(config.api, { host: '127.0.0.1', port: 7090 });
  t.deepEqual(config.metrics, { enabled: true, host: '127.0.0.1', port: 9465 });
  t.is(config.tls?.requestCert, true, 'mTLS on the uplink');
});

test('examples/relay.json loads through loadRelayConfig', (t) => {
  const config = loadRelayConfig(example('relay.json'));
  t.is(config.relayId, 'zone-a');
  t.deepEqual(config.listen, [{ host: '0.0.0.0', port: 7070 }]);
  t.deepEqual(config.metrics, { enabled: true, host: '127.0.0.1', port: 9464 });
  t.is(config.spool.policy, 'drop-oldest');
  t.truthy(config.uplinkTls?.cert, 'a client certificate for mTLS');
});

test("examples/agent.json passes the agent's config check", (t) => {
  const file = example('agent.json');
  const config = resolveAgentConfig([checkAgentConfig(JSON.parse(readFileSync(file, 'utf8')), file)]);
  t.deepEqual(config.relays, ['10.1.0.1:7070', '10.1.0.2:7070']);
  t.is(config.collectInterval, 10);
});

test('the three examples fit together', (t) => {
  const upstream = loadUpstreamConfig(example('upstream.json'));
  const relay = loadRelayConfig(example('relay.json'));
  const file = example('agent.json');
  const agent = resolveAgentConfig([checkAgentConfig(JSON.parse(readFileSync(file, 'utf8')), file)]);
  t.is(agent.token, relay.zoneToken, "the agent's token is its relay's zone token");
  for (const r of agent.relays) t.true(String(r).endsWith(`:${relay.listen[0]?.port}`));
  t.true(relay.upstreams.every((u) => new URL(u).port === String(upstream.uplink.port)));
  t.true(
    relay.upstreams.every((u) => u.startsWith('wss://')),
    'the upstream has tls: wss://',
  );
});

test('a key the schema does not know is refused (what the example test relies on)', (t) => {
  const file = example('agent.json');
  const bad = { ...(JSON.parse(readFileSync(file, 'utf8')) as object), collectIntervall: 10 };
  t.throws(() => checkAgentConfig(bad, file), { message: /collectIntervall/ });
});
