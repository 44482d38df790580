/**
 * `owl-upstream firmware publish|list|withdraw|status` as an operator runs them, against a real
 * `owl-upstream run` child process: publish to zones with a percentage, list, the status of the
 * units a (scripted) relay reported, both kept across a restart of the upstream, withdraw by the
 * bundle's file, and the errors of a missing --zones or an unreadable file.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../helpers/agent-client.js';
import { startUpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { callApi } from '../helpers/upstream-api.js';
import { UplinkTestClient } from '../helpers/upstream-uplink-client.js';
import { testBundle, testKey } from '../helpers/firmware-upstream-bundles.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** `owl-upstream <args>`: exit code, stdout (JSON when it parses), stderr. */
function owl(args: string[]): Promise<{ code: number; out: unknown; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `${REPO}upstream/cli.ts`, ...args],
      { cwd: REPO, timeout: 60_000 },
      (error, stdout, stderr) => {
        let out: unknown = stdout;
        try {
          out = JSON.parse(stdout) as unknown;
        } catch {
          // not JSON: kept as text
        }
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          out,
          err: stderr,
        });
      },
    );
  });
}

test('firmware publish, list, status (kept across a restart), withdraw through the CLI', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('owl-fw-cli-');
  t.teardown(() => dir.remove());
  const state = join(dir.path, 'up');
  let up = await startUpstreamCli(state);
  t.teardown(() => up.proc.stop());
  const flags = (): string[] => ['--state-dir', state, '--api', `127.0.0.1:${up.api.port}`];
  const key = testKey(dir.path);
  const b = await testBundle(dir.path, key, { program: 'owl-relay', version: '1.4.0', minVersion: '1.0.0' });

  const published = await owl([
    'firmware',
    'publish',
    b.file,
    '--zones',
    'zone-a,zone-b',
    '--percent',
    '50',
    ...flags(),
  ]);
  t.is(published.code, 0, published.err);
  t.like(published.out, {
    bundle: b.id,
    program: 'owl-relay',
    version: '1.4.0',
    zones: ['zone-a', 'zone-b'],
    percent: 50,
  });
  const listed = await owl(['firmware', 'list', ...flags()]);
  t.is(listed.code, 0, listed.err);
  t.like((listed.out as unknown[])[0], { bundle: b.id, percent: 50 });

  // A relay reports itself and one agent.
  const token = (
    (await callApi(up.api, 'POST', '/api/v1/relays', { id: 'zone-a' })).body as { token: string }
  ).token;
  const { client } = await UplinkTestClient.open(
    `ws://127.0.0.1:${up.uplinkPort}`,
    'zone-a',
    token,
    'spool-a',
  );
  t.teardown(() => client.terminate());
  client.send({
    type: 'FIRMWARE_REPORT',
    body: {
      units: [
        { program: 'owl-relay', version: '1.3.0', arch: 'amd64', state: 'committed', t: 1 },
        {
          program: 'owl-agent',
          uuid: 'host-1',
          version: '1.3.0',
          state: 'rolled-back',
          lastFailure: {
            code: 'OWL_ERR_FIRMWARE_UNHEALTHY',
            reason: 'no batch acknowledged',
            version: '1.4.0',
            at: 5,
          },
          t: 2,
        },
      ],
    },
  });
  const units = async (): Promise<Array<Record<string, unknown>>> => {
    const s = await owl(['firmware', 'status', ...flags()]);
    if (s.code !== 0) throw new Error(s.err);
    return (s.out as { units: Array<Record<string, unknown>> }).units;
  };
  await eventually(async () => (await units()).length === 2, 30_000, 'both units in firmware status', 200);
  t.like((await units())[0], { unit: 'zone-a', kind: 'relay', version: '1.3.0', state: 'committed' });

  client.terminate();
  await up.proc.stop();
  up = await startUpstreamCli(state);
  const after = await units();
  t.like(after[0], { unit: 'zone-a', version: '1.3.0', state: 'committed', relayConnected: false });
  t.like(after[1], {
    unit: 'host-1',
    kind: 'agent',
    relay: 'zone-a',
    state: 'rolled-back',
    lastFailure: { version: '1.4.0' },
  });
  t.like(((await owl(['firmware', 'list', ...flags()])).out as unknown[])[0], { bundle: b.id });

  const withdrawn = await owl(['firmware', 'withdraw', b.file, ...flags()]);
  t.is(withdrawn.code, 0, withdrawn.err);
  t.deepEqual(withdrawn.out, { bundle: b.id, withdrawn: true });
  t.deepEqual((await owl(['firmware', 'list', ...flags()])).out, []);

  const noZones = await owl(['firmware', 'publish', b.file, ...flags()]);
  t.not(noZones.code, 0);
  t.regex(noZones.err, /--zones/);
  const missing = await owl([
    'firmware',
    'publish',
    join(dir.path, 'absent.owlfw'),
    '--zones',
    '*',
    ...flags(),
  ]);
  t.is(missing.code, 1);
  t.regex(missing.err, /cannot read .*absent\.owlfw/);
  const again = await owl(['firmware', 'withdraw', b.id, ...flags()]);
  t.is(again.code, 1);
  t.regex(again.err, /404.*OWL_ERR_NOT_FOUND/);
});
