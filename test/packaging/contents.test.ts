/**
 * What every built package holds, checked without installing it: lintian finds no error; the
 * metadata states the requirements and the sizes stay within their goals; every file is shipped
 * root's and writable by root only (the owl user writes its state dir, which systemd makes, and
 * for owl-relay and owl-agent the slots' directory, which postinst gives it: slots.test.ts); no
 * token, key or certificate is shipped; no build path leaked into any file; the units pass
 * `systemd-analyze verify`, the main one has its sandbox, and no command that runs as root ("+")
 * runs anything under /opt/owl; the amd64 RocksDB is baseline x86-64.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tempDir } from '../helpers/relay-harness.js';
import {
  allDebs,
  controlField,
  extract,
  PACKAGE_DIR,
  programTree,
  REPO_ROOT,
  SKIP_REASON,
  SLOTTED,
  type Program,
} from './packages.js';

/** The goals of issue 15: each .deb at most 40 MB, installed at most 150 MB. */
const MAX_DEB_BYTES = 40 * 1000 * 1000;
const MAX_INSTALLED_KIB = (150 * 1000 * 1000) / 1024;
/** Keys whose values are secrets: shipped configs may hold them only empty. */
const SECRET_KEYS = ['token', 'apiToken', 'zoneToken'];
const SANDBOX = [
  'User=owl',
  'ConfigurationDirectory=owl',
  'Restart=on-failure',
  'ProtectSystem=strict',
  'NoNewPrivileges=yes',
  'PrivateTmp=yes',
  'CapabilityBoundingSet=',
];

const debs = allDebs();

function programOf(deb: string): Program {
  return basename(deb).replace(/^owl-([a-z]+)_.*$/, '$1') as Program;
}

if (PACKAGE_DIR === undefined || debs.length === 0) {
  test.skip(`package contents: ${PACKAGE_DIR === undefined ? SKIP_REASON : `no .deb in ${PACKAGE_DIR}`}`, () => {});
} else {
  test('lintian: no error on any package', (t) => {
    t.timeout(600_000);
    const r = spawnSync('lintian', ['--tag-display-limit', '0', ...debs], { encoding: 'utf8' });
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E: '));
    t.deepEqual(errors, [], r.stdout);
    t.not(r.status, null, r.stderr);
  });

  for (const deb of debs) {
    const program = programOf(deb);
    const arch = controlField(deb, 'Architecture');

    test(`${basename(deb)}: metadata, sizes, file modes`, (t) => {
      t.is(controlField(deb, 'Package'), `owl-${program}`);
      t.regex(controlField(deb, 'Depends'), /libc6 \(>= 2\.\d+\)/);
      t.regex(controlField(deb, 'Depends'), /\badduser\b/);
      const installedKiB = Number(controlField(deb, 'Installed-Size'));
      t.true(installedKiB <= MAX_INSTALLED_KIB, `installed ${installedKiB} KiB`);
      const size = Number(execFileSync('stat', ['-c', '%s', deb], { encoding: 'utf8' }));
      t.true(size <= MAX_DEB_BYTES, `${size} bytes`);

      const listing = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .split('\n')
        .filter((l) => l !== '');
      t.true(listing.length > 100);
      const mtimes = new Set<string>();
      for (const line of listing) {
        const [mode = '', owner = '', , day = '', time = '', path = ''] = line.split(/\s+/);
        t.is(owner, 'root/root', line);
        // Nobody but root may write, nothing is setuid/setgid (a symlink's own mode means nothing).
        if (!mode.startsWith('l')) t.false(/^.{5}w|^.{8}w|[sS]/.test(mode), line);
        mtimes.add(`${day} ${time}`);
        if (path.startsWith('./var/')) t.fail(`ships ${path}: state is made by systemd (StateDirectory=)`);
      }
      t.is(mtimes.size, 1, 'one fixed mtime (SOURCE_DATE_EPOCH)');
    });

    test(`${basename(deb)}: no secret, no build path, the unit verifies`, (t) => {
      t.timeout(120_000);
      const dir = tempDir('owl-pkg-contents-');
      t.teardown(dir.remove);
      const root = join(dir.path, 'root');
      extract(deb, root);

      const files = execFileSync('find', [root, '-type', 'f'], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .split('\n')
        .filter((f) => f !== '');
      t.deepEqual(
        files.filter((f) => /\.(pem|key|crt|p12)$|api-token$/.test(f)),
        [],
        'no key or certificate',
      );
      const configs = files.filter((f) => /\/etc\/owl\/.*\.json$|\.json\.template$/.test(f));
      t.true(configs.length >= 1, 'a config or a template');
      for (const file of configs) {
        const config = JSON.parse(readFileSync(file, 'utf8').replace('@RELAY_ID@', 'x')) as Record<
          string,
          unknown
        >;
        for (const key of SECRET_KEYS)
          t.true([undefined, ''].includes(config[key] as string), `${file}: ${key}`);
      }

      // Neither the repository's path nor the work dir under it may appear in any file.
      const leak = spawnSync('grep', ['-rlF', '--binary-files=text', REPO_ROOT.replace(/\/$/, ''), root], {
        encoding: 'utf8',
      });
      t.is(leak.stdout, '', 'files naming the build path');

      const units = join(root, 'lib', 'systemd', 'system');
      const unit = join(units, `owl-${program}.service`);
      const text = readFileSync(unit, 'utf8');
      for (const line of [...SANDBOX, `StateDirectory=owl-${program}`])
        t.true(text.includes(`\n${line}\n`), line);
      t.regex(text, /\nProtectHome=(yes|read-only)\n/);
      const home = `/opt/owl/${program}`;
      if (SLOTTED.includes(program)) {
        // The updater writes the slots: the state dir and the slots' directory, nothing else.
        t.deepEqual(text.match(/^ReadWritePaths=.*$/gm), [`ReadWritePaths=${home}`]);
        for (const line of [
          `Environment=OWL_FIRMWARE_ROOT=${home}`,
          `ExecStartPre=${home}/supervisor/run prestart ${home}`,
          'RestartForceExitStatus=75',
          `OnFailure=owl-${program}-trial.service`,
        ])
          t.true(text.includes(`\n${line}\n`), line);
        t.regex(text, new RegExp(`\nExecStart=${home}/current/bin/owl-${program} run `));
        t.regex(text, new RegExp(`\nWants=.*\\bowl-${program}-firmware-check\\.timer\\b`));
      } else {
        t.notRegex(text, /ReadWritePaths=/, 'the state dir is the only writable path');
      }
      const shipped = readdirSync(units).sort();
      t.deepEqual(
        shipped,
        SLOTTED.includes(program)
          ? [
              `owl-${program}-firmware-check.service`,
              `owl-${program}-firmware-check.timer`,
              `owl-${program}-trial.service`,
              `owl-${program}.service`,
            ]
          : [`owl-${program}.service`],
      );
      // verify checks that the commands exist: point them at the extracted tree. All of the
      // package's units together, as OnFailure= and Wants= name each other.
      const check = join(dir.path, 'units');
      mkdirSync(check);
      for (const name of shipped) {
        const unitText = readFileSync(join(units, name), 'utf8');
        // Nothing the owl user can write (the slots' directory is owl's) runs as root.
        for (const exec of unitText.match(/^Exec\w+=[-@:!]*\+.*$/gm) ?? [])
          t.notRegex(exec, /\/opt\/owl\//, `${name}: ${exec}`);
        writeFileSync(join(check, name), unitText.replaceAll('/opt/owl/', `${root}/opt/owl/`));
      }
      const verify = spawnSync('systemd-analyze', ['verify', ...shipped.map((n) => join(check, n))], {
        encoding: 'utf8',
      });
      t.is(verify.status, 0, verify.stderr);
      t.is(verify.stderr, '', 'no warning');

      for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) {
        const control = join(dir.path, 'control');
        execFileSync('dpkg-deb', ['-e', deb, control]);
        t.is(spawnSync('sh', ['-n', join(control, script)]).status, 0, script);
      }

      if (arch === 'amd64') {
        const rocksdb = join(
          programTree(root, program),
          'lib/node_modules/@nxtedition/rocksdb/prebuilds/linux-x64',
        );
        const addons = readdirSync(rocksdb).map((f) => join(rocksdb, f));
        const isa = spawnSync(join(REPO_ROOT, 'packaging', 'check-isa.sh'), addons, { encoding: 'utf8' });
        t.is(isa.status, 0, isa.stderr);
      }
    });
  }
}
