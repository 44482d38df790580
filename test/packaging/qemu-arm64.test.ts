/**
 * The arm64 relay package on an x86 machine: extracted with `dpkg-deb -x`, its bundled arm64 Node
 * run under qemu-aarch64 (Debian's qemu-user-static, with libc6:arm64 and libstdc++6:arm64 for
 * the cross-compiled RocksDB), it opens its spool, accepts an agent and forwards to an upstream
 * from the amd64 package, whose store then holds the sample.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/relay-harness.js';
import { relayToken, sampleStored, sendSample, startPackagedRelay, startPackagedUpstream } from './chain.js';
import { debOf, extract, PACKAGE_DIR, programTree, SKIP_REASON } from './packages.js';

const QEMU = 'qemu-aarch64-static';
const relayDeb = debOf('relay', 'arm64');
const upstreamDeb = debOf('upstream', 'amd64');

function hasQemu(): boolean {
  try {
    execFileSync(QEMU, ['--version']);
    return true;
  } catch {
    return false;
  }
}

if (PACKAGE_DIR === undefined || relayDeb === undefined || upstreamDeb === undefined) {
  const why =
    PACKAGE_DIR === undefined ? SKIP_REASON : `no arm64 owl-relay and amd64 owl-upstream in ${PACKAGE_DIR}`;
  test.skip(`arm64 relay under qemu: ${why}`, () => {});
} else {
  test('arm64: the extracted relay runs under qemu-aarch64, spools and forwards an agent sample to an amd64 upstream', async (t) => {
    t.timeout(300_000);
    t.true(hasQemu(), `${QEMU} not found: apt-get install qemu-user-static libc6:arm64 libstdc++6:arm64`);
    const dir = tempDir('owl-pkg-arm64-');
    t.teardown(dir.remove);
    const armRoot = join(dir.path, 'arm64');
    const amdRoot = join(dir.path, 'amd64');
    extract(relayDeb, armRoot);
    extract(upstreamDeb, amdRoot);
    mkdirSync(join(dir.path, 'etc'));

    const up = await startPackagedUpstream(amdRoot, join(dir.path, 'upstream'));
    t.teardown(() => up.proc.kill());
    const token = await relayToken(up, 'arm-zone');

    const tree = programTree(armRoot, 'relay');
    const stateDir = join(dir.path, 'relay');
    const relay = await startPackagedRelay(
      armRoot,
      {
        command: QEMU,
        // The relay's `memory` settings given up front: `run` would otherwise replace itself
        // (execve) with them, and without binfmt_misc the host kernel cannot exec an arm64 file.
        args: [
          join(tree, 'node', 'bin', 'node'),
          '--max-semi-space-size=2',
          join(tree, 'lib', 'dist', 'relay', 'cli.js'),
        ],
        env: { MALLOC_ARENA_MAX: '2' },
      },
      {
        stateDir,
        configDir: join(dir.path, 'etc'),
        relayId: 'arm-zone',
        token,
        uplinkPort: up.uplinkPort,
        startMs: 120_000,
      },
    );
    t.teardown(() => relay.proc.kill());
    t.true(existsSync(join(stateDir, 'spool')), 'the spool (RocksDB) is open');

    const uuid = '2b8e4f6a-1c3d-4e5f-8a7b-9c0d1e2f3a4b';
    await sendSample(relay.agentPort, uuid, 7.25);
    await sampleStored(up.api, uuid, 7.25, 120_000);

    await relay.proc.stop(60_000);
    t.is(relay.proc.exitCode, 0, relay.proc.stderrTail);
  });
}
