/**
 * A packaged relay updates itself: the amd64 owl-relay and owl-upstream packages extracted, the
 * relay run as its unit runs it (the package's own `supervisor/run prestart` before each start,
 * `current/bin/owl-relay`, OWL_FIRMWARE_ROOT; restarts as systemd makes them), and the package's
 * own tree signed as the next version and published with the packaged `owl-upstream firmware
 * publish`. The relay fetches the bundle (the whole 128 MiB tree, zstd), verifies it, installs it
 * as slot b, restarts on it and commits; samples before and after reach the store.
 */
import test from 'ava';
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlotSet } from '../../firmware/index.js';
import { UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { bundleOf, signingKey } from '../helpers/firmware-rig.js';
import { tempDir } from '../helpers/relay-harness.js';
import { UnitRunner } from '../helpers/unit-runner.js';
import { callApi } from '../helpers/upstream-api.js';
import { relayToken, sampleStored, sendSample, startPackagedUpstream } from './chain.js';
import {
  debOf,
  extract,
  launcher,
  PACKAGE_DIR,
  PackagedProcess,
  programDir,
  SKIP_REASON,
} from './packages.js';

const relayDeb = debOf('relay', 'amd64');
const upstreamDeb = debOf('upstream', 'amd64');
const ZONE = 'pkg-fw-zone';
const UUID = 'pkg-fw-host';

if (PACKAGE_DIR === undefined || relayDeb === undefined || upstreamDeb === undefined) {
  test.skip(`amd64 delivery: ${PACKAGE_DIR === undefined ? SKIP_REASON : `no amd64 packages in ${PACKAGE_DIR}`}`, () => {});
} else {
  test('amd64: the packaged relay takes its own tree, signed as the next version, from the packaged upstream, restarts on it and commits', async (t) => {
    t.timeout(300_000);
    const dir = tempDir('owl-pkg-fw-');
    t.teardown(dir.remove);
    const root = join(dir.path, 'root');
    extract(relayDeb, root);
    extract(upstreamDeb, root);
    const relayDir = programDir(root, 'relay');
    const v1 = new SlotSet({ root: relayDir }).status().current?.version;
    t.truthy(v1, 'the package installs its version as slot a');

    const up = await startPackagedUpstream(root, join(dir.path, 'upstream'));
    t.teardown(() => up.proc.kill());
    const key = signingKey(join(dir.path, 'keys'));
    const template = readFileSync(join(relayDir, 'current', 'share', 'relay.json.template'), 'utf8');
    const config = {
      ...(JSON.parse(template.replace('@RELAY_ID@', ZONE)) as object),
      firmware: { keys: [key.publicKeyFile] },
    };
    const configFile = join(dir.path, 'relay.json');
    writeFileSync(configFile, JSON.stringify(config));
    const token = await relayToken(up, ZONE);
    const relay = new UnitRunner({
      program: 'owl-relay',
      root: relayDir,
      supervisor: join(relayDir, 'supervisor', 'run'),
      env: { OWL_FIRMWARE_ROOT: relayDir },
      args: [
        'run',
        '--config',
        configFile,
        '--state-dir',
        join(dir.path, 'relay-state'),
        '--token',
        token,
        '--upstream',
        `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
        '--listen',
        '127.0.0.1:0',
        '--v3-allow',
        '127.0.0.0/8',
        '--metrics',
        '127.0.0.1:0',
      ],
    });
    t.teardown(() => relay.stop(true));
    t.teardown(() => {
      if (!t.passed) t.log(relay.history(20));
    });
    await relay.start();
    const started = await relay.waitLog((l) => l.msg === 'relay started', '"relay started"', 60_000);
    const agentPort = (started['listen'] as { port: number }[])[0]?.port ?? 0;
    await sendSample(agentPort, UUID, 1);
    await sampleStored(up.api, UUID, 1, 60_000);

    // The package's own tree (without its slot marker) signed as the next version.
    const tree = join(dir.path, 'next-tree');
    cpSync(join(relayDir, 'a'), tree, { recursive: true, verbatimSymlinks: true });
    rmSync(join(tree, '.owl-slot.json'));
    const next = '99.0.0';
    const bundle = await bundleOf(tree, join(dir.path, 'relay-next.owlfw'), key, {
      program: 'owl-relay',
      version: next,
      arch: 'amd64',
    });
    rmSync(tree, { recursive: true });
    const publish = PackagedProcess.spawn(
      'packaged owl-upstream firmware publish',
      launcher(root, 'upstream'),
      [
        'firmware',
        'publish',
        bundle,
        '--zones',
        ZONE,
        '--api',
        `http://127.0.0.1:${up.api.port}`,
        '--token',
        up.api.token ?? '',
      ],
      root,
    );
    const publishedAt = Date.now();
    await publish.waitExit(120_000);
    t.is(publish.exitCode, 0, publish.stderrTail);

    const onNext = await relay.waitStart(next, 240_000);
    t.regex(onNext.prestart, /from slot b \(trial/);
    await eventually(
      async () => {
        const r = await callApi(up.api, 'GET', '/api/v1/firmware/status');
        const units =
          (r.body as { units?: { program: string; relay?: string; version: string; state: string }[] })
            .units ?? [];
        const u = units.find((x) => x.program === 'owl-relay' && x.relay === ZONE);
        return u?.version === next && u.state === 'committed';
      },
      120_000,
      'the next version committed and reported',
    );
    t.log(
      `a ${(statSync(bundle).size / 1e6).toFixed(1)} MB bundle of the package's tree: published → ` +
        `committed on the next version in ${Date.now() - publishedAt} ms`,
    );
    t.is(relay.starts[0]?.exit, 'code 75', 'the packaged relay exited 75 after its switch');
    const nextStarted = await relay.waitLog(
      (l) => l.msg === 'relay started',
      'started on the next version',
      60_000,
      relay.starts.indexOf(onNext),
    );
    await sendSample((nextStarted['listen'] as { port: number }[])[0]?.port ?? 0, UUID, 2);
    await sampleStored(up.api, UUID, 2, 60_000);
    t.deepEqual(
      new SlotSet({ root: relayDir }).status().other?.version,
      v1,
      'the package version stays as the way back',
    );
  });
}
