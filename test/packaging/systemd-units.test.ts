/**
 * The packages' units under a real systemd (test/packaging/systemd-box.ts: systemd as PID 1 of
 * a throwaway overlay copy of this machine, loopback only). owl-upstream and owl-relay (amd64)
 * are installed with dpkg and run by their own units, sandboxing and all; the relay's updates are
 * published with the packaged CLI, and the units alone carry them through:
 *
 * - the package's own tree signed as the next version: the relay installs it and exits 75,
 *   systemd starts it again (RestartForceExitStatus=75) after the supervisor's ExecStartPre, and
 *   it commits;
 * - a version that exits 2 at start (RestartPreventExitStatus=2 stops the unit): OnFailure= starts
 *   the trial unit, whose ExecCondition sees the trial pending and restarts the relay; after the
 *   allowed starts prestart rolls back, and the upstream hears OWL_ERR_FIRMWARE_EXITED_AT_START;
 * - a version that runs but never becomes healthy: the check timer's unit rolls it back past the
 *   health deadline (exit 3) and its ExecStopPost restarts the relay on the previous version.
 */
import test from 'ava';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlotSet } from '../../firmware/index.js';
import { eventually } from '../helpers/agent-client.js';
import { bundleOf, signingKey, type SigningKey } from '../helpers/firmware-rig.js';
import { tempDir } from '../helpers/relay-harness.js';
import { debOf, extract, PACKAGE_DIR, programDir, SKIP_REASON } from './packages.js';
import { SystemdBox } from './systemd-box.js';

const relayDeb = debOf('relay', 'amd64');
const upstreamDeb = debOf('upstream', 'amd64');
const ZONE = 'box-zone';
const BOX = '/var/lib/owl-box-test';
const API = 'http://127.0.0.1:7090';

interface RelayUnit {
  program: string;
  relay: string;
  version: string;
  state: string;
  lastFailure?: { code: string; version: string };
}

/** A tiny owl-relay tree whose launcher runs `script` (no node: the supervisor runs on another slot's). */
function scriptTree(dir: string, version: string, script: string): string {
  const tree = join(dir, `tree-${version}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin', 'owl-relay'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(tree, 'bin', 'owl-relay'), 0o755);
  return tree;
}

async function relayBundle(dir: string, key: SigningKey, tree: string, version: string): Promise<string> {
  return bundleOf(tree, join(dir, `owl-relay-${version}.owlfw`), key, {
    program: 'owl-relay',
    version,
    arch: 'amd64',
  });
}

const unavailable = SystemdBox.unavailable();
if (PACKAGE_DIR === undefined || relayDeb === undefined || upstreamDeb === undefined || unavailable) {
  const why =
    PACKAGE_DIR === undefined ? SKIP_REASON : (unavailable ?? `no amd64 packages in ${PACKAGE_DIR}`);
  test.skip(`units under a real systemd: ${why}`, () => {});
} else {
  test.serial(
    'under a real systemd the relay unit takes an update (exit 75), rolls back one that exits 2 (OnFailure) and one never healthy (check timer)',
    async (t) => {
      t.timeout(600_000);
      const dir = tempDir('owl-box-test-');
      t.teardown(dir.remove);
      // The bundles, signed here: the package's own tree as 99.0.0, and two tiny broken ones.
      const root = join(dir.path, 'root');
      extract(relayDeb, root);
      const relayDir = programDir(root, 'relay');
      const v1 = new SlotSet({ root: relayDir }).status().current?.version ?? '';
      const key = signingKey(join(dir.path, 'keys'));
      const tree = join(dir.path, 'next-tree');
      cpSync(join(relayDir, 'a'), tree, { recursive: true, verbatimSymlinks: true });
      rmSync(join(tree, '.owl-slot.json'));
      const good = await relayBundle(dir.path, key, tree, '99.0.0');
      rmSync(root, { recursive: true });
      rmSync(tree, { recursive: true });
      const exits2 = await relayBundle(
        dir.path,
        key,
        scriptTree(dir.path, '100.0.0', 'echo "owl-relay 100.0.0: refuses its config" >&2\nexit 2'),
        '100.0.0',
      );
      const hangs = await relayBundle(
        dir.path,
        key,
        scriptTree(dir.path, '101.0.0', 'exec sleep 3600'),
        '101.0.0',
      );

      const box = await SystemdBox.boot();
      t.teardown(() => box.stop());
      t.teardown(async () => {
        if (t.passed) return;
        t.log((await box.run('journalctl --no-pager -n 150 -u "owl-*"')).out);
      });
      box.copyIn(upstreamDeb, `${BOX}/owl-upstream.deb`);
      box.copyIn(relayDeb, `${BOX}/owl-relay.deb`);
      box.copyIn(key.publicKeyFile, '/etc/owl/firmware-key.pem');
      for (const [name, file] of [
        ['good', good],
        ['exits2', exits2],
        ['hangs', hangs],
      ] as const)
        box.copyIn(file, `${BOX}/${name}.owlfw`);
      await box.must(`dpkg -i ${BOX}/owl-upstream.deb ${BOX}/owl-relay.deb`, 180_000);
      await box.must('chmod 0644 /etc/owl/firmware-key.pem && systemctl start owl-upstream');
      let token = '';
      await eventually(
        async () => {
          const r = await box.run(`owl-upstream relay add ${ZONE}`);
          token = r.out.match(/\b[A-Za-z0-9_-]{32,}\b/)?.[0] ?? '';
          return r.code === 0 && token !== '';
        },
        60_000,
        'owl-upstream answers relay add',
        500,
      );
      box.write(
        '/etc/owl/relay.json',
        JSON.stringify({
          relayId: ZONE,
          token,
          upstreams: ['ws://127.0.0.1:7080/owl/v1/uplink'],
          stateDir: '/var/lib/owl-relay',
          listen: [{ host: '127.0.0.1', port: 7070 }],
          firmware: { keys: ['/etc/owl/firmware-key.pem'], healthTimeoutMs: 20_000 },
        }),
      );
      await box.must('chown root:owl /etc/owl/relay.json && chmod 0640 /etc/owl/relay.json');
      await box.must('systemctl restart owl-relay');

      const relayUnit = async (): Promise<RelayUnit | undefined> => {
        const r = await box.run(
          `curl -sf -H "Authorization: Bearer $(cat /var/lib/owl-upstream/api-token)" ${API}/api/v1/firmware/status`,
        );
        if (r.code !== 0) return undefined;
        const units = (JSON.parse(r.out) as { units: RelayUnit[] }).units;
        return units.find((u) => u.program === 'owl-relay' && u.relay === ZONE);
      };
      const publish = (name: string): Promise<string> =>
        box.must(`owl-upstream firmware publish ${BOX}/${name}.owlfw --zones ${ZONE}`, 120_000);
      const journal = async (unit: string): Promise<string> =>
        (await box.run(`journalctl --no-pager -o cat -u ${unit}`)).out;

      await eventually(async () => (await relayUnit())?.version === v1, 90_000, `${v1} reported`, 500);

      const phases: string[] = [];
      let phaseStart = Date.now();
      const phase = (what: string): void => {
        phases.push(`${what} ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
        phaseStart = Date.now();
      };

      // 1. The next version: exit 75, restarted by systemd on it, committed.
      await publish('good');
      await eventually(
        async () => {
          const u = await relayUnit();
          return u?.version === '99.0.0' && u.state === 'committed';
        },
        240_000,
        '99.0.0 committed under systemd',
        1000,
      );
      phase('publish → 99.0.0 committed');
      t.regex(await journal('owl-relay'), /starting 99\.0\.0 from slot b \(trial/);
      t.regex(await box.must('readlink /opt/owl/relay/current'), /^b$/m);

      // 2. Exits 2 at start: OnFailure= and the trial unit restart it until prestart rolls back.
      await publish('exits2');
      await eventually(
        async () => (await relayUnit())?.lastFailure?.version === '100.0.0',
        180_000,
        '100.0.0 rolled back and reported',
        1000,
      );
      phase('publish → 100.0.0 (exits 2) rolled back');
      const afterExit2 = await relayUnit();
      t.is(afterExit2?.lastFailure?.code, 'OWL_ERR_FIRMWARE_EXITED_AT_START');
      t.is(afterExit2?.version, '99.0.0');
      t.regex(await journal('owl-relay-trial.service'), /owl-relay/, 'the trial unit ran');
      t.regex(await journal('owl-relay'), /starting 100\.0\.0 from slot a \(trial/);

      // 3. Runs, never healthy: the check timer rolls it back past the 20 s deadline.
      await publish('hangs');
      await eventually(
        async () => (await relayUnit())?.lastFailure?.version === '101.0.0',
        180_000,
        '101.0.0 rolled back by the check timer and reported',
        1000,
      );
      phase('publish → 101.0.0 (never healthy) rolled back');
      const afterHang = await relayUnit();
      t.is(afterHang?.lastFailure?.code, 'OWL_ERR_FIRMWARE_HEALTH_TIMEOUT');
      t.is(afterHang?.version, '99.0.0');
      t.regex(await journal('owl-relay-firmware-check.service'), /roll/i, 'the check unit rolled it back');
      t.is((await box.run('systemctl is-active owl-relay')).out.trim(), 'active');
      t.log(phases.join('; '));
      await box.stop();
      t.false(existsSync('/opt/owl/relay'), 'this machine has no owl-relay: it was in the box only');
    },
  );
}
