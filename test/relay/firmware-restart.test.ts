/**
 * The relay's own update through the real CLI (`owl-relay run`, a child process): an accepted
 * bundle is installed and switched and the process exits with EXIT_FIRMWARE_RESTART (75) after a
 * clean stop; started again (as the service manager would, now reporting the new slot's
 * version) it commits once its uplink is up, logs it once and reports `committed`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EXIT_FIRMWARE_RESTART, SlotSet } from '../../firmware/index.js';
import { eventually } from '../helpers/agent-client.js';
import { startRelayCli } from '../helpers/owl-cli.js';
import { RELAY_ID, RELAY_TOKEN } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { ARCH, makeBundle, scratch, signingKey, slotRoot } from './firmware-fixture.js';

test('owl-relay installs its update, exits 75, and commits on its next start once connected', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const root = slotRoot(dir, '1.0.0');
  const stateDir = join(dir, 'state');
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const file = await makeBundle(dir, key, { program: 'owl-relay', version: '2.0.0', filler: 100 * 1024 });
  receiver.offerFirmware(file, { program: 'owl-relay', arch: ARCH, version: '2.0.0' });
  const start = () =>
    startRelayCli({
      stateDir,
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreamUrl: receiver.url,
      zoneToken: 'zone-token-1234',
      config: { firmware: { root, keys: [key.publicKeyFile] } },
    });

  const first = await start();
  t.teardown(() => first.proc.kill());
  await first.proc.waitExit(30_000);
  t.is(first.proc.exitCode, EXIT_FIRMWARE_RESTART, first.proc.stderrTail);
  t.truthy(first.proc.log.find((l) => l.msg === 'firmware switched; restarting'));
  t.truthy(
    first.proc.log.find((l) => l.msg === 'relay stopped'),
    'a clean stop before the exit',
  );
  const slots = new SlotSet({ root });
  t.is(slots.state().state, 'trial');
  t.deepEqual(slots.status().current, { slot: 'b', version: '2.0.0' });
  await eventually(() => receiver.lastReport(RELAY_ID)?.state === 'trial', 10_000, 'a trial report');

  const second = await start();
  t.teardown(() => second.proc.stop());
  await second.proc.waitLog((l) => l.msg === 'firmware committed', '"firmware committed" line');
  t.is(slots.state().state, 'committed');
  await eventually(() => receiver.lastReport(RELAY_ID)?.state === 'committed', 10_000, 'a committed report');
  t.is(receiver.lastReport(RELAY_ID)?.version, '2.0.0');
  const status = await second.status();
  t.is(status.firmware.version, '2.0.0');
  t.is(status.firmware.state, 'committed');
  t.is(second.proc.log.filter((l) => l.msg === 'firmware committed').length, 1);
  // `owl-relay status` (text) says so too.
  const cli = fileURLToPath(new URL('../../relay/cli.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    cli,
    'status',
    '--state-dir',
    stateDir,
  ]);
  t.regex(stdout, /firmware: 2\.0\.0 committed, 1\/1 offered bundles cached/);
});
