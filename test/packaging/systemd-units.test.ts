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
import test, { type ExecutionContext } from 'ava';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
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
const AGENT_UUID = '5c0ffee0-1b2c-4d3e-8f40-a1b2c3d4e5f6';

interface Unit {
  program: string;
  relay: string;
  uuid?: string;
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

/** A box with owl-upstream and owl-relay (and `more` packages) installed, the relay configured and running. */
interface Rig {
  box: SystemdBox;
  /** The latest firmware report of a unit (the relay: uuid undefined). */
  unit(program: 'owl-relay' | 'owl-agent', uuid?: string): Promise<Unit | undefined>;
  publish(file: string): Promise<string>;
  journal(unit: string): Promise<string>;
  api(path: string): Promise<unknown>;
}

async function rig(t: ExecutionContext, key: SigningKey, more: string[] = []): Promise<Rig> {
  const box = await SystemdBox.boot();
  t.teardown(() => box.stop());
  t.teardown(async () => {
    if (t.passed) return;
    t.log((await box.run('journalctl --no-pager -n 150 -u "owl-*"')).out);
  });
  const debs = [upstreamDeb as string, relayDeb as string, ...more];
  for (const deb of debs) box.copyIn(deb, `${BOX}/${basename(deb)}`);
  box.copyIn(key.publicKeyFile, '/etc/owl/firmware-key.pem');
  await box.must(`dpkg -i ${debs.map((d) => `${BOX}/${basename(d)}`).join(' ')}`, 180_000);
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
  const api = async (path: string): Promise<unknown> => {
    const r = await box.run(
      `curl -sf -H "Authorization: Bearer $(cat /var/lib/owl-upstream/api-token)" '${API}${path}'`,
    );
    return r.code === 0 ? (JSON.parse(r.out) as unknown) : undefined;
  };
  return {
    box,
    api,
    unit: async (program, uuid) => {
      const status = (await api('/api/v1/firmware/status')) as { units: Unit[] } | undefined;
      return status?.units.find(
        (u) => u.program === program && u.relay === ZONE && (uuid === undefined || u.uuid === uuid),
      );
    },
    publish: (file) => {
      box.copyIn(file, `${BOX}/${basename(file)}`);
      return box.must(`owl-upstream firmware publish ${BOX}/${basename(file)} --zones ${ZONE}`, 120_000);
    },
    journal: async (unit) => (await box.run(`journalctl --no-pager -o cat -u ${unit}`)).out,
  };
}

/** The package's own slot-a tree (without its marker), signed as `version`; and the version it installs. */
async function ownTreeBundle(
  deb: string,
  program: 'relay' | 'agent',
  dir: string,
  key: SigningKey,
  version: string,
): Promise<{ file: string; packaged: string }> {
  const root = join(dir, `root-${program}`);
  extract(deb, root);
  const slots = programDir(root, program);
  const packaged = new SlotSet({ root: slots }).status().current?.version ?? '';
  const tree = join(dir, `own-${program}`);
  cpSync(join(slots, 'a'), tree, { recursive: true, verbatimSymlinks: true });
  rmSync(join(tree, '.owl-slot.json'));
  const file = await bundleOf(tree, join(dir, `owl-${program}-${version}.owlfw`), key, {
    program: `owl-${program}`,
    version,
    arch: 'amd64',
  });
  rmSync(root, { recursive: true });
  rmSync(tree, { recursive: true });
  return { file, packaged };
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
      const key = signingKey(join(dir.path, 'keys'));
      // The bundles, signed here: the package's own tree as 99.0.0, and two tiny broken ones.
      const { file: good, packaged: v1 } = await ownTreeBundle(relayDeb, 'relay', dir.path, key, '99.0.0');
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
      const { box, unit, publish, journal } = await rig(t, key);
      const relayUnit = (): Promise<Unit | undefined> => unit('owl-relay');
      await eventually(async () => (await relayUnit())?.version === v1, 90_000, `${v1} reported`, 500);
      const phases: string[] = [];
      let phaseStart = Date.now();
      const phase = (what: string): void => {
        phases.push(`${what} ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
        phaseStart = Date.now();
      };

      // 1. The next version: exit 75, restarted by systemd on it, committed.
      await publish(good);
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
      // The unit hands the relay the boot id its sandbox hides (the slots' lock is dated by it).
      t.regex(await box.must('systemctl show -p Environment owl-relay'), /OWL_BOOT_ID=[0-9a-f]{32}\b/);

      // 2. Exits 2 at start: OnFailure= and the trial unit restart it until prestart rolls back.
      await publish(exits2);
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
      await publish(hangs);
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

  const agentDeb = debOf('agent', 'amd64');
  test.serial(
    'under a real systemd the agent unit takes an update through its relay (exit 75) and commits; each numbered sample is stored once',
    async (t) => {
      if (agentDeb === undefined) return t.fail(`no amd64 owl-agent in ${PACKAGE_DIR}`);
      t.timeout(600_000);
      const dir = tempDir('owl-box-agent-');
      t.teardown(dir.remove);
      const key = signingKey(join(dir.path, 'keys'));
      const { file: next, packaged: v1 } = await ownTreeBundle(agentDeb, 'agent', dir.path, key, '99.0.0');
      const { box, unit, publish, journal, api } = await rig(t, key, [agentDeb]);
      const host = {
        uuid: AGENT_UUID,
        zone: ZONE,
        services: [{ name: 'counter', plugin: 'counter.sh', exec_interval: 1 }],
      };
      await box.must(
        `curl -sf -X POST -H "Authorization: Bearer $(cat /var/lib/owl-upstream/api-token)" ` +
          `-H 'content-type: application/json' -d '${JSON.stringify(host)}' ${API}/api/v1/hosts`,
      );
      // The plugin numbers its samples; it may write only the agent's state dir (ProtectSystem=strict).
      box.write(
        '/usr/lib/owl-agent/plugins/counter.sh',
        '#!/bin/sh\nf=/var/lib/owl-agent/counter\nn=$(cat "$f" 2>/dev/null || echo 0)\nn=$((n + 1))\necho "$n" > "$f"\necho "{\\"seq\\": $n}"\n',
      );
      box.write(
        '/etc/owl/agent.json',
        JSON.stringify({
          relays: ['127.0.0.1:7070'],
          stateDir: '/var/lib/owl-agent',
          pluginDir: '/usr/lib/owl-agent/plugins',
          collectInterval: 0,
          discovery: { portsInterval: 0, assetsInterval: 0 },
          firmware: { keys: ['/etc/owl/firmware-key.pem'], checkIntervalMs: 2000 },
        }),
      );
      box.write('/var/lib/owl-agent/uuid', AGENT_UUID);
      await box.must(
        'chmod 0755 /usr/lib/owl-agent/plugins/counter.sh && chown root:owl /etc/owl/agent.json && ' +
          'chmod 0640 /etc/owl/agent.json && chown -R owl:owl /var/lib/owl-agent && systemctl restart owl-agent',
      );
      const agentUnit = (): Promise<Unit | undefined> => unit('owl-agent', AGENT_UUID);
      const stored = async (): Promise<number[]> => {
        const q = await api(`/api/v1/query?metric=counter.seq&tag.uuid=${AGENT_UUID}&from=0`);
        return ((q as { values: number[] }[] | undefined) ?? []).flatMap((x) => x.values);
      };
      await eventually(async () => (await agentUnit())?.version === v1, 90_000, `agent ${v1} reported`, 500);
      await eventually(async () => (await stored()).length >= 2, 60_000, 'first samples stored', 500);

      const began = Date.now();
      await publish(next);
      await eventually(
        async () => {
          const u = await agentUnit();
          return u?.version === '99.0.0' && u.state === 'committed';
        },
        240_000,
        'agent 99.0.0 committed under systemd',
        1000,
      );
      t.log(`publish → agent 99.0.0 committed in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      t.regex(await journal('owl-agent'), /starting 99\.0\.0 from slot b \(trial/);
      t.regex(await box.must('readlink /opt/owl/agent/current'), /^b$/m);

      // Every number the plugin made, across the restart, stored once.
      await box.must('systemctl stop owl-agent');
      const last = Number((await box.must('cat /var/lib/owl-agent/counter')).trim());
      await eventually(
        async () => Math.max(0, ...(await stored())) >= last - 1,
        60_000,
        'the last samples stored',
        500,
      );
      const values = await stored();
      t.is(new Set(values).size, values.length, 'no sample stored twice');
      const missing: number[] = [];
      for (let v = 1; v < last; v++) if (!values.includes(v)) missing.push(v);
      t.deepEqual(missing, [], `no sample lost across the update (${last} made)`);
      t.log(`${values.length} numbered samples stored once, ${last} made`);
    },
  );
}
