/**
 * `owl-upstream` operator commands against an upstream whose API is HTTPS
 * (`tls` in its config), as a user runs them: the CLI is a child process,
 * the PKI is made by openssl at test time. Trusting the CA with --ca (with
 * --api host:port, an https:// URL, or --config detecting TLS, address and
 * state dir) works; not trusting it, trusting another CA, plain HTTP against
 * HTTPS and HTTPS against plain HTTP fail with a message saying what to do,
 * exit code 1, and change nothing.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Upstream } from '../../upstream/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { withUpstream } from '../helpers/upstream-fixture.js';

const CLI = fileURLToPath(new URL('../../upstream/cli.ts', import.meta.url));
const UUID = '45c48cce2e2d7fbdea1afc51c7c6ad26';
/** The CLI trusts only the system's CAs and --ca: no extra CAs from the environment. */
const CHILD_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS'),
);

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `owl-upstream <args>`; resolves with its exit code and output whatever the code. */
function cli(...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { timeout: 30_000, env: CHILD_ENV },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** stdout as JSON, failing the test with stderr when the command failed. */
function json(t: ExecutionContext, run: CliRun): unknown {
  t.is(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as unknown;
}

interface Rig {
  up: Upstream;
  pki: TestPki;
  /** A CA that did not sign the upstream's certificate. */
  other: TestPki;
  stateDir: string;
  /** The upstream's JSON config file, as `owl-upstream run -c` would read it. */
  configFile: string;
  port: number;
}

async function tlsUpstream(t: ExecutionContext): Promise<Rig> {
  const dir = tempDir('owl-cli-tls-');
  t.teardown(() => dir.remove());
  mkdirSync(`${dir.path}/pki`);
  mkdirSync(`${dir.path}/other`);
  const pki = makeTestPki(`${dir.path}/pki`);
  const other = makeTestPki(`${dir.path}/other`, 'owl-other-ca');
  const tls = { cert: pki.certFile, key: pki.keyFile };
  const { up } = await withUpstream(t, { tls });
  const stateDir = up.config.stateDir;
  const port = up.apiAddress.port;
  const configFile = `${dir.path}/upstream.json`;
  writeFileSync(configFile, JSON.stringify({ stateDir, api: { host: '127.0.0.1', port }, tls }));
  return { up, pki, other, stateDir, configFile, port };
}

test('relay add, relay list and host list over HTTPS with --ca; token from the state dir; --config detects TLS', async (t) => {
  const rig = await tlsUpstream(t);
  const { up, pki, port } = rig;
  const api = ['--api', `127.0.0.1:${port}`, '--state-dir', rig.stateDir, '--ca', pki.caFile];

  const added = json(t, await cli('relay', 'add', 'zone-a', ...api)) as { id: string; token: string };
  t.is(added.id, 'zone-a');
  t.is(up.relays.check('zone-a', added.token), 'ok', 'the printed token authenticates the relay');

  t.truthy(await up.registry.addHost({ uuid: UUID, zone: 'zone-a' }));
  const [byAddress, byUrl, relays] = await Promise.all([
    cli('host', 'list', ...api),
    cli('host', 'list', '--api', `https://127.0.0.1:${port}`, '--token', up.apiToken, '--ca', pki.caFile),
    cli('relay', 'list', '--config', rig.configFile, '--ca', pki.caFile),
  ]);
  for (const run of [byAddress, byUrl]) {
    t.deepEqual(
      (json(t, run) as { host: { uuid: string }; zone: string }[]).map((h) => [h.host.uuid, h.zone]),
      [[UUID, 'zone-a']],
    );
  }
  // --config gave the address, the token (from its state dir) and https.
  t.like((json(t, relays) as unknown[])[0], { id: 'zone-a', revoked: false, connected: false });
});

test('without trusting the CA (none, or another) or with plain HTTP the CLI exits 1 saying what to do, and changes nothing', async (t) => {
  const rig = await tlsUpstream(t);
  const { up, port } = rig;
  await up.relays.add('zone-a', Date.now());
  const byToken = ['--api', `127.0.0.1:${port}`, '--token', up.apiToken];
  const [untrusted, otherCa, fromConfig, plain] = await Promise.all([
    cli('relay', 'add', 'zone-b', ...byToken, '--tls'),
    cli('relay', 'add', 'zone-b', ...byToken, '--ca', rig.other.caFile),
    cli('relay', 'revoke', 'zone-a', '--config', rig.configFile),
    cli('relay', 'add', 'zone-b', ...byToken),
  ]);
  for (const [what, run] of [
    ['--tls, no --ca', untrusted],
    ['--ca of another CA', otherCa],
    ['--config (TLS on), no --ca', fromConfig],
  ] as const) {
    t.is(run.code, 1, what);
    t.is(run.stdout, '', what);
    t.regex(
      run.stderr,
      new RegExp(
        `^owl-upstream: TLS: the certificate of https://127\\.0\\.0\\.1:${port} is not trusted .*--ca <file>`,
      ),
      what,
    );
    t.notRegex(run.stderr, /\n\s+at /, `${what}: a message, not a stack trace`);
  }
  t.is(plain.code, 1);
  t.regex(
    plain.stderr,
    /^owl-upstream: http:\/\/127\.0\.0\.1:\d+ closed the connection .*HTTPS; pass --ca <file>/,
  );
  t.is(up.relays.get('zone-b'), undefined, 'no refused command reached the API');
  t.is(up.relays.get('zone-a')?.revokedAtMs, undefined);
});

test('HTTPS against a plain-HTTP API, an unreadable --ca or a missing token: exit 1 with a message', async (t) => {
  const { up, dir } = await withUpstream(t);
  const pki = makeTestPki(dir);
  const api = ['--api', `127.0.0.1:${up.apiAddress.port}`];
  const [https, badCa, noToken] = await Promise.all([
    cli('relay', 'list', ...api, '--token', up.apiToken, '--ca', pki.caFile),
    cli('relay', 'list', ...api, '--token', up.apiToken, '--ca', `${dir}/missing.pem`),
    cli('relay', 'list', ...api, '--state-dir', `${dir}/nowhere`),
  ]);
  t.is(https.code, 1);
  t.regex(
    https.stderr,
    /^owl-upstream: TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed \(.*wrong version number.*\): is its API plain HTTP\?.*\n$/,
  );
  t.is(badCa.code, 1);
  t.regex(badCa.stderr, /^owl-upstream: --ca .*missing\.pem: ENOENT/);
  t.is(noToken.code, 1);
  t.regex(noToken.stderr, /^owl-upstream: cannot read the API token from .*nowhere.*pass --token/);
});
