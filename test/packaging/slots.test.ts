/**
 * The firmware slots as packaged (docs/packaging.md, "Slots"): owl-relay and owl-agent ship
 * their tree as slot `a` of /opt/owl/<program> with its version marker, `current -> a`, and the
 * supervisor beside the slots (the compiled firmware/slots, importing nothing else, started by
 * `run` on a slot's node); nothing the updater writes (b/, update.json) is in the package. On
 * the extracted amd64 packages the packaged supervisor runs: prestart starts the package's
 * version from slot a; and through an update (a slot b installed and switched to with the
 * repository's SlotSet) it counts the trial's starts, survives b's node dying at start by running
 * on a's, rolls back after the allowed starts, and its watchdog rolls back a trial past its
 * deadline (exit 3); the launcher then runs slot a again.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { isSemVer, SlotSet } from '../../firmware/index.js';
import { OWL_VERSION } from '../../protocol/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import {
  controlField,
  debOf,
  extract,
  launcher,
  PACKAGE_DIR,
  programDir,
  SKIP_REASON,
  SLOTTED,
  type Arch,
  type Program,
} from './packages.js';

const ARCHES: readonly Arch[] = ['amd64', 'arm64'];
const SUPERVISOR_FILES = [
  'current-link.js',
  'durable-fs.js',
  'errors.js',
  'package.json',
  'process-identity.js',
  'run',
  'slot-dir.js',
  'slot-lock.js',
  'slot-set.js',
  'state-file.js',
  'steps.js',
  'supervise.js',
  'supervisor.js',
];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `<dir>/supervisor/run <command> <dir>`, as the units run it. */
function supervise(dir: string, command: 'prestart' | 'check' | 'pending'): Run {
  const r = spawnSync(join(dir, 'supervisor', 'run'), [command, dir], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A tiny tree to install as a new version: its node is a link to slot a's (the supervisor runs
 * on a slot's node; the program itself is not started from it here).
 */
function stagedTree(parent: string, dir: string, name: string): string {
  const staged = join(parent, name);
  mkdirSync(join(staged, 'node', 'bin'), { recursive: true });
  symlinkSync(join(dir, 'a', 'node', 'bin', 'node'), join(staged, 'node', 'bin', 'node'));
  return staged;
}

const debs = SLOTTED.flatMap((program) =>
  ARCHES.flatMap((arch) => {
    const deb = debOf(program, arch);
    return deb === undefined ? [] : [{ program, arch, deb }];
  }),
);

if (PACKAGE_DIR === undefined || debs.length === 0) {
  test.skip(`packaged slots: ${PACKAGE_DIR === undefined ? SKIP_REASON : `no owl-relay or owl-agent in ${PACKAGE_DIR}`}`, () => {});
} else {
  for (const { program, arch, deb } of debs) {
    test(`${basename(deb)}: slot a with the package's version, current -> a, the supervisor; nothing the updater writes`, (t) => {
      t.timeout(120_000);
      const tmp = tempDir('owl-pkg-slots-');
      t.teardown(tmp.remove);
      const root = join(tmp.path, 'root');
      extract(deb, root);
      const dir = programDir(root, program);

      t.deepEqual(readdirSync(dir).sort(), ['a', 'current', 'supervisor']);
      t.is(readlinkSync(join(dir, 'current')), 'a', 'relative link to slot a');
      const version = controlField(deb, 'Version');
      t.true(isSemVer(version), `${version}: the version a bundle of this tree would carry`);
      const marker = JSON.parse(readFileSync(join(dir, 'a', '.owl-slot.json'), 'utf8')) as unknown;
      t.like(marker, { version });
      t.is(typeof (marker as { installedAt: unknown }).installedAt, 'number');
      t.true(existsSync(join(dir, 'a', 'node', 'bin', 'node')));
      t.is(
        readlinkSync(join(root, 'usr', 'bin', `owl-${program}`)),
        `/opt/owl/${program}/current/bin/owl-${program}`,
      );

      const supervisor = join(dir, 'supervisor');
      t.deepEqual(readdirSync(supervisor).sort(), SUPERVISOR_FILES);
      t.deepEqual(JSON.parse(readFileSync(join(supervisor, 'package.json'), 'utf8')), { type: 'module' });
      for (const file of SUPERVISOR_FILES.filter((f) => f.endsWith('.js'))) {
        const text = readFileSync(join(supervisor, file), 'utf8');
        for (const [, spec = ''] of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
          const sibling = spec.startsWith('./') && SUPERVISOR_FILES.includes(spec.slice(2));
          t.true(spec.startsWith('node:') || sibling, `${file} imports ${spec}`);
        }
      }

      // Given to owl by postinst (the updater runs as owl); the supervisor stays root's.
      const control = join(tmp.path, 'control');
      execFileSync('dpkg-deb', ['-e', deb, control]);
      const postinst = readFileSync(join(control, 'postinst'), 'utf8');
      t.regex(postinst, new RegExp(`\\nROOT=/opt/owl/${program}\\n`));
      t.regex(postinst, /\n {2}chown owl:owl "\$ROOT"\n {2}chown -Rh owl:owl "\$ROOT\/a"\n/);
      t.notRegex(postinst, /chown[^\n]*supervisor/);
      t.is(controlField(deb, 'Architecture'), arch);
    });
  }

  for (const { program, deb } of debs.filter((d) => d.arch === 'amd64')) {
    test(`${basename(deb)}: the packaged supervisor starts slot a; pending says no update`, (t) => {
      t.timeout(120_000);
      const tmp = tempDir('owl-pkg-supervise-');
      t.teardown(tmp.remove);
      const root = join(tmp.path, 'root');
      extract(deb, root);
      const dir = programDir(root, program);
      const version = controlField(deb, 'Version');

      const pre = supervise(dir, 'prestart');
      t.is(pre.status, 0, pre.stderr);
      t.true(pre.stdout.includes(`owl-slots: starting ${version} from slot a (start)`), pre.stdout);
      const pending = supervise(dir, 'pending');
      t.is(pending.status, 1, pending.stderr);
      t.is(pending.stdout.trim(), 'owl-slots: committed');
      const check = supervise(dir, 'check');
      t.is(check.status, 0, check.stderr);
      t.false(existsSync(join(dir, 'update.json')), 'nothing pending, nothing written');
    });
  }

  const relay = debs.find((d) => d.program === 'relay' && d.arch === 'amd64');
  if (relay !== undefined) {
    test(`${basename(relay.deb)}: an update on the packaged slots: trial starts, a new node that dies, rollback, the watchdog`, (t) => {
      t.timeout(180_000);
      const tmp = tempDir('owl-pkg-update-');
      t.teardown(tmp.remove);
      const root = join(tmp.path, 'root');
      extract(relay.deb, root);
      const program: Program = 'relay';
      const dir = programDir(root, program);
      const version = controlField(relay.deb, 'Version');

      // v2 into slot b, switched to: on trial, 2 starts allowed.
      const slots = new SlotSet({ root: dir });
      t.like(slots.install(stagedTree(tmp.path, dir, 'v2'), '0.2.0'), { slot: 'b' });
      slots.switch();
      t.is(supervise(dir, 'pending').status, 0, 'on trial: OnFailure= restarts the service');
      const first = supervise(dir, 'prestart');
      t.is(first.status, 0, first.stderr);
      t.true(first.stdout.includes('owl-slots: starting 0.2.0 from slot b (trial)'), first.stdout);

      // The new slot's node dies at start (SIGILL: built for another CPU): run uses slot a's.
      const node = join(dir, 'b', 'node', 'bin', 'node');
      rmSync(node);
      writeFileSync(node, '#!/bin/sh\nkill -ILL $$\n');
      chmodSync(node, 0o755);
      const second = supervise(dir, 'prestart');
      t.is(second.status, 0, second.stderr);
      t.regex(second.stderr, /did not run \(status 132\); trying the next slot's node/);
      t.true(second.stdout.includes('owl-slots: starting 0.2.0 from slot b (trial)'), second.stdout);

      // Its allowed starts used up: back to the package's version.
      const third = supervise(dir, 'prestart');
      t.is(third.status, 0, third.stderr);
      t.regex(third.stdout, /owl-slots: rolled back 0\.2\.0: exited at start/);
      t.true(third.stdout.includes(`owl-slots: starting ${version} from slot a (rolled-back)`), third.stdout);
      t.is(readlinkSync(join(dir, 'current')), 'a');
      t.is(supervise(dir, 'pending').status, 1, 'rolled back: an exit 2 stops the service again');
      t.like(new SlotSet({ root: dir }).status(), {
        state: 'rolled-back',
        lastFailure: { code: 'OWL_ERR_FIRMWARE_EXITED_AT_START', version: '0.2.0', previousVersion: version },
      });

      // v3 runs but never reports healthy: past its deadline, the watchdog rolls it back (exit 3).
      new SlotSet({ root: dir }).install(stagedTree(tmp.path, dir, 'v3'), '0.3.0');
      new SlotSet({ root: dir, now: () => Date.now() - 600_000 }).switch();
      t.is(readlinkSync(join(dir, 'current')), 'b');
      const check = supervise(dir, 'check');
      t.is(check.status, 3, check.stderr);
      t.regex(check.stdout, /owl-slots: rolled back 0\.3\.0: health timeout/);
      t.is(readlinkSync(join(dir, 'current')), 'a');

      // The program starts from slot a again, through current.
      t.is(execFileSync(launcher(root, program), ['--version'], { encoding: 'utf8' }).trim(), OWL_VERSION);
    });
  }
}
