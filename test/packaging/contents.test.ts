/**
 * What every built package holds, checked without installing it: lintian finds no error; the
 * metadata states the requirements and the sizes stay within their goals; every file is root's
 * and writable by root only (the owl user may write nothing but its state dir, which systemd
 * makes); no token, key or certificate is shipped; no build path leaked into any file; the unit
 * passes `systemd-analyze verify` and has its sandbox; the amd64 RocksDB is baseline x86-64.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tempDir } from '../helpers/relay-harness.js';
import { allDebs, controlField, extract, PACKAGE_DIR, REPO_ROOT, SKIP_REASON } from './packages.js';

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

function programOf(deb: string): string {
  return basename(deb).replace(/^owl-([a-z]+)_.*$/, '$1');
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

      const unit = join(root, 'lib', 'systemd', 'system', `owl-${program}.service`);
      const text = readFileSync(unit, 'utf8');
      for (const line of [...SANDBOX, `StateDirectory=owl-${program}`])
        t.true(text.includes(`\n${line}\n`), line);
      t.regex(text, /\nProtectHome=(yes|read-only)\n/);
      t.notRegex(text, /ReadWritePaths=/, 'the state dir is the only writable path');
      // verify checks that ExecStart exists: point it at the extracted tree.
      const check = join(dir.path, 'units');
      mkdirSync(check);
      writeFileSync(join(check, basename(unit)), text.replaceAll('/opt/owl/', `${root}/opt/owl/`));
      const verify = spawnSync('systemd-analyze', ['verify', join(check, basename(unit))], {
        encoding: 'utf8',
      });
      t.is(verify.status, 0, verify.stderr);
      t.is(verify.stderr, '', 'no warning');

      for (const script of ['postinst', 'prerm', 'postrm']) {
        const control = join(dir.path, 'control');
        execFileSync('dpkg-deb', ['-e', deb, control]);
        t.is(spawnSync('sh', ['-n', join(control, script)]).status, 0, script);
      }

      if (arch === 'amd64') {
        const rocksdb = join(
          root,
          'opt/owl',
          program,
          'lib/node_modules/@nxtedition/rocksdb/prebuilds/linux-x64',
        );
        const addons = readdirSync(rocksdb).map((f) => join(rocksdb, f));
        const isa = spawnSync(join(REPO_ROOT, 'packaging', 'check-isa.sh'), addons, { encoding: 'utf8' });
        t.is(isa.status, 0, isa.stderr);
      }
    });
  }
}
