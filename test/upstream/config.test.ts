/**
 * The upstream's config is checked by a schema, as the relay's: unknown keys (with the key meant)
 * and wrong types refused naming the file and the key, a file that is not JSON with its line and
 * column, flags naming the command line, TLS files by their key. `metrics` is part of it.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultUpstreamConfig,
  loadUpstreamConfig,
  resolveUpstreamConfig,
  assertUpstreamFiles,
  type UpstreamConfigInput,
} from '../../upstream/index.js';
import { tempDir } from '../helpers/relay-harness.js';

const refused = (input: unknown): string => {
  try {
    resolveUpstreamConfig(input as UpstreamConfigInput);
  } catch (err) {
    if ((err as { code?: string }).code !== 'OWL_ERR_CONFIG_INVALID') throw err;
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`);
};

test('an unknown key is refused with the key meant; a wrong type with what it must be', (t) => {
  t.is(
    refused({ retentionDayz: 7 }),
    'upstream config: retentionDayz: unknown key (did you mean retentionDays?)',
  );
  t.is(
    refused({ retentionDays: 'seven' }),
    'upstream config: retentionDays: must be a number >= 0.001, not "seven"',
  );
  t.is(refused({ api: { prot: 1 } }), 'upstream config: api.prot: unknown key (did you mean port?)');
  t.is(refused({ agents: [{ host: '0.0.0.0' }] }), 'upstream config: agents[0].port: required');
  t.is(
    refused({ relayWindow: 0, logLevel: 'loud' }),
    'upstream config: relayWindow: must be an integer from 1 to 65535, not 0; logLevel: must be one of ' +
      '"fatal", "error", "warn", "info", "debug", "trace", "silent", not "loud"',
  );
  t.is(refused({ zzz: 1 }), 'upstream config: zzz: unknown key');
  t.is(refused([]), 'upstream config: the config: must be an object, not []');
});

test('metrics is in the schema: on by default at 127.0.0.1:9465, each field checked, a listener given in part keeps the rest', (t) => {
  t.deepEqual(resolveUpstreamConfig({}).metrics, { enabled: true, host: '127.0.0.1', port: 9465 });
  t.deepEqual(resolveUpstreamConfig({ metrics: { enabled: false } }).metrics, {
    enabled: false,
    host: '127.0.0.1',
    port: 9465,
  });
  t.is(
    refused({ metrics: { port: 'x' } }),
    'upstream config: metrics.port: must be an integer from 0 to 65535, not "x"',
  );
  t.is(
    refused({ metrics: { enable: true } }),
    'upstream config: metrics.enable: unknown key (did you mean enabled?)',
  );
  t.deepEqual(resolveUpstreamConfig({ api: { port: 8090 } }).api, { host: '127.0.0.1', port: 8090 });
  const full = { ...defaultUpstreamConfig(), tls: { cert: 'c', key: 'k', ca: 'a', requestCert: true } };
  t.deepEqual(resolveUpstreamConfig(full), full, 'every key of the defaults passes the schema');
});

test('a file is named in its problems, a syntax error with line and column; flags name the command line', (t) => {
  const dir = tempDir('owl-upstream-config-');
  t.teardown(() => dir.remove());
  const file = (name: string, text: string): string => {
    const path = join(dir.path, name);
    writeFileSync(path, text);
    return path;
  };
  const message = (f: () => unknown): string => {
    const err = t.throws(f);
    t.is((err as { code?: string }).code, 'OWL_ERR_CONFIG_INVALID');
    return err?.message ?? '';
  };
  const bad = file('bad.json', '{\n  "retentionDays": 7\n  "storeWorker": true\n}');
  t.regex(
    message(() => loadUpstreamConfig(bad)),
    /^.*bad\.json: not JSON: .*\(line 3 column 3\)$/,
  );
  const tru = file('tru.json', '{\n  "storeWorker": tru\n}');
  t.regex(
    message(() => loadUpstreamConfig(tru)),
    /^[^\n]*tru\.json: not JSON: [^\n]*\(line \d+ column \d+\)$/,
  );
  const cut = file('cut.json', '{\n  "retentionDays":');
  t.is(
    message(() => loadUpstreamConfig(cut)),
    `${cut}: not JSON: Unexpected end of JSON input (line 2 column 19)`,
  );
  const typo = file('typo.json', JSON.stringify({ retentionDayz: 7 }));
  t.is(
    message(() => loadUpstreamConfig(typo)),
    `${typo}: retentionDayz: unknown key (did you mean retentionDays?)`,
  );
  t.is(
    message(() => loadUpstreamConfig(join(dir.path, 'none.json'))),
    `${join(dir.path, 'none.json')}: cannot read: ENOENT`,
  );
  const good = file('good.json', JSON.stringify({ retentionDays: 7, api: { host: '0.0.0.0' } }));
  const config = loadUpstreamConfig(good, { api: { port: 1234 }, stateDir: dir.path });
  t.is(config.retentionDays, 7);
  t.deepEqual(
    config.api,
    { host: '0.0.0.0', port: 1234 },
    'a flag and the file each give part of a listener',
  );
  t.regex(
    message(() => loadUpstreamConfig(good, { uplink: { host: '127.0.0.1', port: -1 } })),
    /^command line: uplink\.port: must be an integer from 0 to 65535, not -1$/,
  );
});

test('TLS files that cannot be read are named by their key', (t) => {
  const dir = tempDir('owl-upstream-config-');
  t.teardown(() => dir.remove());
  const cert = join(dir.path, 'cert.pem');
  writeFileSync(cert, 'not checked here, only read');
  const config = resolveUpstreamConfig({ tls: { cert, key: join(dir.path, 'key.pem') } });
  const err = t.throws(() => assertUpstreamFiles(config));
  t.is(err?.message, `tls.key: cannot read ${join(dir.path, 'key.pem')}: ENOENT`);
  t.is((err as { code?: string }).code, 'OWL_ERR_CONFIG_INVALID');
  t.notThrows(() => assertUpstreamFiles(resolveUpstreamConfig({})), 'no TLS: nothing to read');
});
