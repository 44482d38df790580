/**
 * The maintainer scripts of the slotted packages under a real dpkg: packaging/check-install.sh
 * (install, two updates as owl, an upgrade, an install over a trial, remove) run as root in a
 * throwaway overlay of this machine (packaging/in-overlay-root.sh: private mount namespace,
 * tmpfs upper), so the package, the owl user and everything written vanish with it. Afterwards
 * this machine has neither the package's files nor the user the scripts made.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debOf, PACKAGE_DIR, REPO_ROOT, SKIP_REASON, SLOTTED } from './packages.js';

const isRoot = process.getuid?.() === 0;
const canUnshare = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
const userExists = (name: string): boolean => spawnSync('getent', ['passwd', name]).status === 0;

/** Run `args` through unshare + in-overlay-root.sh; its exit code and output. */
function inOverlay(args: string[]): Promise<{ code: number | null; out: string }> {
  const mountPoint = mkdtempSync(join(tmpdir(), 'owl-overlay-'));
  const proc = spawn(
    'unshare',
    ['-m', 'bash', join(REPO_ROOT, 'packaging', 'in-overlay-root.sh'), mountPoint, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) =>
    proc.on('close', (code) => {
      rmdirSync(mountPoint);
      resolve({ code, out });
    }),
  );
}

for (const program of SLOTTED) {
  const deb = debOf(program, 'amd64');
  const title = `owl-${program}: dpkg install, updates as owl, upgrade, install over a trial, remove (in a throwaway overlay root)`;
  if (PACKAGE_DIR === undefined || deb === undefined || !canUnshare) {
    const why =
      PACKAGE_DIR === undefined
        ? SKIP_REASON
        : deb === undefined
          ? `no amd64 owl-${program} in ${PACKAGE_DIR}`
          : 'needs root and unshare -m (a private mount namespace)';
    test.skip(`${title}: ${why}`, () => {});
    continue;
  }
  test.serial(title, async (t) => {
    t.timeout(240_000);
    const hadOwl = userExists('owl');
    const { code, out } = await inOverlay(['bash', join(REPO_ROOT, 'packaging', 'check-install.sh'), deb]);
    t.is(code, 0, out);
    t.regex(out, new RegExp(`owl-${program}: install, updates, upgrade, reinstall, remove: all as expected`));
    t.false(existsSync(join('/opt/owl', program)), 'nothing installed on this machine');
    t.is(userExists('owl'), hadOwl, 'no user made on this machine');
  });
}
