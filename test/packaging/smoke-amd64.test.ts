/**
 * The amd64 packages work on their own: owl-upstream and owl-relay extracted with `dpkg-deb -x`
 * into a scratch root and started from there with the Node they bundle (no repository file on
 * their path), an agent frame into the relay reaches the upstream's store.
 */
import test from 'ava';
import { mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/relay-harness.js';
import {
  relayLauncher,
  relayToken,
  sampleStored,
  sendSample,
  startPackagedRelay,
  startPackagedUpstream,
} from './chain.js';
import { debOf, extract, PACKAGE_DIR, SKIP_REASON } from './packages.js';

const relayDeb = debOf('relay', 'amd64');
const upstreamDeb = debOf('upstream', 'amd64');

if (PACKAGE_DIR === undefined || relayDeb === undefined || upstreamDeb === undefined) {
  test.skip(`amd64 smoke: ${PACKAGE_DIR === undefined ? SKIP_REASON : `no amd64 packages in ${PACKAGE_DIR}`}`, () => {});
} else {
  test('amd64: the extracted relay and upstream run on their bundled Node; an agent sample reaches the store', async (t) => {
    t.timeout(180_000);
    const dir = tempDir('owl-pkg-amd64-');
    t.teardown(dir.remove);
    const root = join(dir.path, 'root');
    extract(relayDeb, root);
    extract(upstreamDeb, root);
    mkdirSync(join(dir.path, 'etc'));

    const up = await startPackagedUpstream(root, join(dir.path, 'upstream'));
    t.teardown(() => up.proc.kill());
    // The process is the package's node, not the one running this test.
    t.is(readlinkSync(`/proc/${up.proc.pid}/exe`), join(root, 'opt/owl/upstream/node/bin/node'));

    const token = await relayToken(up, 'pkg-zone');
    const relay = await startPackagedRelay(root, relayLauncher(root), {
      stateDir: join(dir.path, 'relay'),
      configDir: join(dir.path, 'etc'),
      relayId: 'pkg-zone',
      token,
      uplinkPort: up.uplinkPort,
    });
    t.teardown(() => relay.proc.kill());
    // Started through /opt/owl/relay/current, which names slot a as packaged.
    t.is(readlinkSync(`/proc/${relay.proc.pid}/exe`), join(root, 'opt/owl/relay/a/node/bin/node'));

    const uuid = '7d1c9e2a-5b3f-4c6d-9e8f-0a1b2c3d4e5f';
    await sendSample(relay.agentPort, uuid, 42.5);
    await sampleStored(up.api, uuid, 42.5, 60_000);
    t.deepEqual(
      relay.proc.log.filter((l) => (l.level ?? 0) >= 50),
      [],
      'no error logged by the relay',
    );

    await relay.proc.stop();
    t.is(relay.proc.exitCode, 0, relay.proc.stderrTail);
  });
}
