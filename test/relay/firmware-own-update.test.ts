/**
 * The relay's own update, in process: a bundle that fails verification (tampered, unknown key,
 * wrong arch, downgrade) is refused before anything touches a slot, reported upstream with its
 * code and never fetched again; a good one is installed into the inactive slot and switched,
 * and the relay asks to restart; started again on the new slot, it commits once its uplink is
 * up. A start after a rollback reports the failure.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareErrorCode, SlotFailureCode, SlotSet } from '../../firmware/index.js';
import { pino } from 'pino';
import { Relay, resolveRelayConfig, TEST_BACKOFF } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import {
  ARCH,
  makeBundle,
  OTHER_ARCH,
  packageTree,
  scratch,
  signingKey,
  slotRoot,
  snapshot,
  tampered,
  type SigningKey,
} from './firmware-fixture.js';

interface Rig {
  dir: string;
  key: SigningKey;
  root: string;
  stateDir: string;
  receiver: UplinkReceiver;
  start(onRestart?: () => void, keys?: string[]): Promise<Relay>;
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const root = slotRoot(dir, '1.0.0');
  const stateDir = join(dir, 'state');
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const start = (onRestart?: () => void, keys = [key.publicKeyFile]): Promise<Relay> => {
    const config = resolveRelayConfig({
      metrics: { port: 0 },
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreams: [receiver.url],
      stateDir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      batch: { lingerMs: 5 },
      firmware: { root, keys, chunkBytes: 64 * 1024 },
    });
    // What the CLI passes: there the hook stops the relay and exits 75 (firmware-restart.test.ts).
    return Relay.start(config, {
      logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }),
      backoff: TEST_BACKOFF,
      slowRetryMs: 200,
      ...(onRestart === undefined ? {} : { onFirmwareRestart: onRestart }),
    });
  };
  return { dir, key, root, stateDir, receiver, start };
}

type Make = (r: Rig) => Promise<{ file: string; version: string }>;

const refusals: Array<[string, string, Make]> = [
  [
    'a tampered bundle',
    FirmwareErrorCode.CORRUPT,
    async (r) => ({
      file: tampered(await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '2.0.0' })),
      version: '2.0.0',
    }),
  ],
  [
    'a bundle signed with another key',
    FirmwareErrorCode.UNKNOWN_KEY,
    async (r) => ({
      file: await makeBundle(r.dir, signingKey(join(r.dir, 'other-key')), {
        program: 'owl-relay',
        version: '2.0.0',
      }),
      version: '2.0.0',
    }),
  ],
  [
    'a bundle for the other architecture (offered as this one)',
    FirmwareErrorCode.WRONG_ARCH,
    async (r) => ({
      file: await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '2.0.0', arch: OTHER_ARCH }),
      version: '2.0.0',
    }),
  ],
  [
    'a downgrade (offered as newer)',
    FirmwareErrorCode.DOWNGRADE,
    async (r) => ({
      file: await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '0.9.0' }),
      version: '2.0.0',
    }),
  ],
  [
    'a downgrade (offered as what it is: not even fetched)',
    FirmwareErrorCode.DOWNGRADE,
    async (r) => ({
      file: await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '0.9.0' }),
      version: '0.9.0',
    }),
  ],
];

for (const [what, code, make] of refusals) {
  // A refusal for want of a key is forgotten at a start: the operator may have pinned the key since.
  const keyRefusal = code === FirmwareErrorCode.UNKNOWN_KEY;
  const again = keyRefusal ? 'fetched again only after a restart' : 'never fetched again';
  test(`${what} is refused with ${code} before anything touches a slot, reported, ${again}`, async (t) => {
    const r = await rig(t);
    const before = snapshot(r.root);
    const { file, version } = await make(r);
    const offer = r.receiver.offerFirmware(file, { program: 'owl-relay', arch: ARCH, version });
    let restarted = false;
    let relay = await r.start(() => (restarted = true));
    await eventually(
      () => r.receiver.lastReport(RELAY_ID)?.refused?.code === code,
      20_000,
      `a ${code} report`,
    );
    const report = r.receiver.lastReport(RELAY_ID);
    t.is(report?.refused?.bundle, offer.bundle);
    t.is(report?.version, '1.0.0');
    t.is(report?.state, 'committed');
    t.deepEqual(snapshot(r.root), before, 'the slot directory is unchanged');
    t.false(existsSync(join(r.stateDir, 'firmware', 'staging')));
    t.false(existsSync(join(r.stateDir, 'firmware', `${offer.bundle}.owlfw`)), 'the refused file deleted');
    t.false(restarted);
    const refusedMetric = await relay.metrics.firmwareRefusals.get();
    t.is(refusedMetric.values.find((v) => v.labels['code'] === code)?.value, 1);
    const asked = r.receiver.requestedBytes(offer.bundle);
    t.is(asked, version === '0.9.0' ? 0 : offer.size);

    // Restarted on the same state dir and offered the same: not fetched again.
    await relay.stop();
    relay = await r.start();
    t.teardown(() => relay.stop());
    if (keyRefusal) {
      await eventually(
        () =>
          r.receiver.requestedBytes(offer.bundle) === 2 * asked &&
          relay.status().firmware.refused?.code === code,
        20_000,
        'fetched once more after the restart, and refused again',
      );
      t.deepEqual(snapshot(r.root), before, 'the slot directory is still unchanged');
      return;
    }
    await eventually(
      () => relay.status().firmware.offered === 1 && relay.status().uplink.state === 'connected',
      10_000,
      'the offer received again',
    );
    t.is(relay.status().firmware.activity, 'idle');
    t.is(relay.status().firmware.refused?.code, code);
    t.is(r.receiver.requestedBytes(offer.bundle), asked);
    t.true(readFileSync(join(r.stateDir, 'firmware', 'refused.json'), 'utf8').includes(offer.bundle));
  });
}

test('a good bundle is installed into the inactive slot and switched; started on it, the relay commits once connected', async (t) => {
  const r = await rig(t);
  const file = await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '2.0.0', filler: 200 * 1024 });
  r.receiver.offerFirmware(file, { program: 'owl-relay', arch: ARCH, version: '2.0.0' });
  let restart: () => void = () => undefined;
  const restarted = new Promise<void>((resolve) => (restart = resolve));
  let relay = await r.start(() => restart());
  t.is(relay.status().firmware.version, '1.0.0');
  await restarted;
  const slots = new SlotSet({ root: r.root });
  const status = slots.status();
  t.deepEqual(status.current, { slot: 'b', version: '2.0.0' });
  t.deepEqual(status.other, { slot: 'a', version: '1.0.0' });
  t.is(status.state, 'trial');
  t.is(relay.status().firmware.activity, 'switched');
  t.false(existsSync(join(r.stateDir, 'firmware', 'staging')));
  await eventually(() => r.receiver.lastReport(RELAY_ID)?.state === 'trial', 10_000, 'a trial report');
  t.is(r.receiver.lastReport(RELAY_ID)?.pendingVersion, '2.0.0');
  await relay.stop();

  // The next start runs the new slot's version; healthy (spool open, WELCOME), it commits.
  relay = await r.start();
  t.teardown(() => relay.stop());
  t.is(relay.status().firmware.version, '2.0.0');
  await eventually(
    () => r.receiver.lastReport(RELAY_ID)?.state === 'committed',
    10_000,
    'a committed report',
  );
  t.is(r.receiver.lastReport(RELAY_ID)?.version, '2.0.0');
  t.is(slots.state().state, 'committed');
  // Its own bundle is what runs now: nothing more to do.
  t.is(relay.status().firmware.activity, 'idle');
});

test('no install while a trial is pending: its commit refused (deadline passed), a newer bundle waits', async (t) => {
  const r = await rig(t);
  // 2.0.0 switched with a deadline already behind it: the relay runs it on trial and cannot commit.
  const slots = new SlotSet({ root: r.root, healthTimeoutMs: 1, now: () => Date.now() - 1000 });
  slots.install(packageTree(r.dir, 'owl-relay', '2.0.0'), '2.0.0');
  slots.switch();
  const before = snapshot(r.root);
  const file = await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '3.0.0' });
  const offer = r.receiver.offerFirmware(file, { program: 'owl-relay', arch: ARCH, version: '3.0.0' });
  const relay = await r.start(() => t.fail('restarted during a trial'));
  t.teardown(() => relay.stop());
  await eventually(
    () => relay.status().firmware.offered === 1 && r.receiver.lastReport(RELAY_ID) !== undefined,
    10_000,
    'connected and offered',
  );
  t.is(relay.status().firmware.version, '2.0.0');
  t.is(relay.status().firmware.state, 'trial');
  t.is(relay.status().firmware.activity, 'idle');
  t.is(r.receiver.requestedBytes(offer.bundle), 0);
  t.deepEqual(snapshot(r.root), before);
});

test('no key pinned: an own update is refused (unknown key) without being fetched', async (t) => {
  const r = await rig(t);
  const file = await makeBundle(r.dir, r.key, { program: 'owl-relay', version: '2.0.0' });
  const offer = r.receiver.offerFirmware(file, { program: 'owl-relay', arch: ARCH, version: '2.0.0' });
  const relay = await r.start(undefined, []);
  t.teardown(() => relay.stop());
  await eventually(
    () => r.receiver.lastReport(RELAY_ID)?.refused?.code === FirmwareErrorCode.UNKNOWN_KEY,
    10_000,
    'an UNKNOWN_KEY report',
  );
  t.is(r.receiver.requestedBytes(offer.bundle), 0);
  t.is(new SlotSet({ root: r.root }).state().state, 'committed');
});

test('a start after a rollback reports the failure upstream', async (t) => {
  const r = await rig(t);
  const slots = new SlotSet({ root: r.root });
  slots.install(packageTree(r.dir, 'owl-relay', '2.0.0'), '2.0.0');
  slots.switch();
  slots.rollback('2.0.0 exited at start 2 times', SlotFailureCode.EXITED_AT_START);
  const relay = await r.start();
  t.teardown(() => relay.stop());
  await eventually(() => r.receiver.lastReport(RELAY_ID) !== undefined, 10_000, 'a relay report');
  const report = r.receiver.lastReport(RELAY_ID);
  t.is(report?.version, '1.0.0');
  t.is(report?.state, 'rolled-back');
  t.like(report?.lastFailure, {
    code: SlotFailureCode.EXITED_AT_START,
    reason: '2.0.0 exited at start 2 times',
    version: '2.0.0',
  });
});
