/**
 * The relay's config checks: the schema's one-line messages (the shared formatting of
 * protocol/config-schema.ts), the relay id rule of docs/uplink.md (no dot), and assertRunnable:
 * no start without an id and a token of the uplink alphabet, or with a TLS file it cannot read.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertRunnable, resolveRelayConfig, type RelayConfigInput } from '../../relay/index.js';
import { tempDir } from '../helpers/relay-harness.js';

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if ((err as { code?: string }).code !== 'OWL_ERR_CONFIG_INVALID') throw err;
    return (err as Error).message;
  }
  throw new Error('accepted');
};
const runnable = (input: RelayConfigInput): void => assertRunnable(resolveRelayConfig(input));

test('the schema names each bad key, the key meant, and what a value must be', (t) => {
  t.is(
    message(() => resolveRelayConfig({ spool: { maxByte: 1 } } as RelayConfigInput)),
    'relay config: spool.maxByte: unknown key (did you mean maxBytes?)',
  );
  t.is(
    message(() => resolveRelayConfig({ listen: [{ host: '::', port: 70_000 }], relayId: 'a.b' })),
    'relay config: relayId: must be a string matching ^[A-Za-z0-9_-]{1,64}$, not "a.b"; ' +
      'listen[0].port: must be an integer from 0 to 65535, not 70000',
  );
  t.is(
    message(() =>
      resolveRelayConfig({ spool: { policy: 'drop-newest' } } as unknown as RelayConfigInput, 'relay.json'),
    ),
    'relay.json: spool.policy: must be one of "drop-oldest", "reject-new", not "drop-newest"',
  );
  t.is(
    message(() => resolveRelayConfig({ agentTls: { cert: 'c' } } as RelayConfigInput)),
    'relay config: agentTls.key: required',
  );
});

test("the relay id rule is docs/uplink.md's: 1-64 of [A-Za-z0-9_-], no dot", (t) => {
  for (const id of ['a', 'zone-a', 'Zone_9', 'x'.repeat(64)])
    t.is(resolveRelayConfig({ relayId: id }).relayId, id);
  for (const id of ['', 'a.b', 'a b', 'x'.repeat(65), 'zone/a'])
    t.throws(() => resolveRelayConfig({ relayId: id }));
});

test('assertRunnable: an id and a token of the uplink alphabet, saying how to get one', (t) => {
  t.notThrows(() => runnable({ relayId: 'zone-a', token: 'Ab0-._~+/==' }));
  t.regex(
    message(() => runnable({ token: 'abc' })),
    /^relayId: not set; .*`owl-upstream relay add <id>`/,
  );
  t.regex(
    message(() => runnable({ relayId: 'zone-a' })),
    /^token: not set; --token or "token": .*`owl-upstream relay add zone-a` on the upstream/,
  );
  for (const token of ['has space', 'a=b', 'é', 'x'.repeat(1025)]) {
    t.regex(
      message(() => runnable({ relayId: 'zone-a', token })),
      /^token: not an uplink token/,
      token,
    );
  }
  t.regex(
    message(() => runnable({ relayId: 'direct', token: 'abc' })),
    /^relayId: "direct" is reserved/,
  );
  const config = { ...resolveRelayConfig({ token: 'abc' }), relayId: 'a.b' };
  t.regex(
    message(() => assertRunnable(config)),
    /^relayId: must be 1-64 of/,
    'a config built in code is held to it too',
  );
});

test('assertRunnable: a TLS file that cannot be read is named by its key', (t) => {
  const dir = tempDir('owl-relay-config-');
  t.teardown(() => dir.remove());
  const pem = join(dir.path, 'cert.pem');
  writeFileSync(pem, 'read, not parsed');
  const id = { relayId: 'zone-a', token: 'abc' };
  t.notThrows(() => runnable({ ...id, agentTls: { cert: pem, key: pem }, uplinkTls: { ca: pem } }));
  t.is(
    message(() => runnable({ ...id, agentTls: { cert: pem, key: join(dir.path, 'key.pem') } })),
    `agentTls.key: cannot read ${join(dir.path, 'key.pem')}: ENOENT`,
  );
  t.is(
    message(() => runnable({ ...id, uplinkTls: { cert: dir.path, key: pem } })),
    `uplinkTls.cert: cannot read ${dir.path}: EISDIR`,
  );
});
