/**
 * The relay's updater against a busy slot root: while another process holds the slots' lock
 * (here standing in for a package upgrade), a good bundle is downloaded but neither refused nor
 * reported as a refusal, and no slot is written; once the holder is gone, the next try installs
 * and switches it. Started on the trial while the lock is held again, the relay's commit waits
 * (one line) and commits once the holder is gone.
 */
import test from 'ava';
import { join } from 'node:path';
import { pino } from 'pino';
import { SlotSet } from '../../firmware/slots/index.js';
import { HealthCommit } from '../../agent/firmware/index.js';
import { Relay, resolveRelayConfig, TEST_BACKOFF } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { hostArch } from '../../relay/firmware/index.js';
import {
  HOST_ARCH,
  installCommitted,
  kitKey,
  launcherTree,
  signTree,
  snapshot,
} from '../helpers/firmware-kit.js';
import { tempDir } from '../helpers/relay-harness.js';
import { holder } from './slots-lock-fixture.js';

/** A relay on `root`'s slots, its log lines (info and up) kept in `logged`. */
function relayOn(
  upstream: string,
  dir: string,
  root: string,
  publicKeyFile: string,
  logged: string[],
  extra: { slowRetryMs?: number; onFirmwareRestart?: () => void } = {},
): Promise<Relay> {
  return Relay.start(
    resolveRelayConfig({
      metrics: { port: 0 },
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreams: [upstream],
      stateDir: join(dir, 'state'),
      listen: [{ host: '127.0.0.1', port: 0 }],
      batch: { lingerMs: 5 },
      firmware: { root, keys: [publicKeyFile], chunkBytes: 64 * 1024 },
    }),
    {
      logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }),
      backoff: TEST_BACKOFF,
      ...extra,
    },
  );
}

test('a busy slot root: the relay keeps its bundle (no refusal, no slot written) and installs it once the lock is free', async (t) => {
  const tmp = tempDir('owl-slots-lock-relay-');
  t.teardown(tmp.remove);
  const dir = tmp.path;
  const key = kitKey(join(dir, 'keys'));
  const root = join(dir, 'opt-owl-relay');
  installCommitted(root, launcherTree(join(dir, 'tree-1'), 'owl-relay', '1.0.0'), '1.0.0');
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const arch = hostArch() ?? HOST_ARCH;
  const file = await signTree(
    launcherTree(join(dir, 'tree-2'), 'owl-relay', '2.0.0'),
    join(dir, 'next.owlfw'),
    key.signing,
    {
      program: 'owl-relay',
      version: '2.0.0',
      arch,
      minVersion: '0.0.1',
    },
  );

  const dpkg = await holder(root, 'dpkg preinst upgrade');
  t.teardown(dpkg.kill);
  const before = snapshot(root);
  const offer = receiver.offerFirmware(file, { program: 'owl-relay', arch, version: '2.0.0' });
  const logged: string[] = [];
  let restart: () => void = () => undefined;
  const restarted = new Promise<void>((resolve) => (restart = resolve));
  const relay = await relayOn(receiver.url, dir, root, key.publicKeyFile, logged, {
    slowRetryMs: 200,
    onFirmwareRestart: () => restart(),
  });
  t.teardown(() => relay.stop());

  // Downloaded whole, then BUSY at the install: waiting to retry, nothing refused or written.
  await eventually(
    () => relay.status().firmware.activity === 'waiting to retry',
    20_000,
    'the install put off for a retry',
  );
  t.is(receiver.requestedBytes(offer.bundle), offer.size);
  const why = logged.map((l) => JSON.parse(l) as { msg: string; code?: string; why?: string });
  t.like(
    why.find((l) => l.code === 'OWL_ERR_SLOTS_BUSY'),
    { msg: 'firmware install waits for the slots lock' },
    JSON.stringify(why),
  );
  t.regex(
    why.find((l) => l.code === 'OWL_ERR_SLOTS_BUSY')?.why ?? '',
    new RegExp(`dpkg preinst upgrade by pid ${dpkg.pid} `),
  );
  t.falsy(relay.status().firmware.refused);
  t.falsy(receiver.lastReport(RELAY_ID)?.refused);
  t.deepEqual((await relay.metrics.firmwareRefusals.get()).values, []);
  t.deepEqual(snapshot(root), before, 'no slot written while busy');

  // The holder is gone; a new offer list ends the wait for the retry: installed and switched.
  await dpkg.kill();
  receiver.offerFirmware(file, { program: 'owl-relay', arch, version: '2.0.0' });
  await restarted;
  t.like(new SlotSet({ root }).status(), { state: 'trial', current: { slot: 'b', version: '2.0.0' } });
  t.is(receiver.requestedBytes(offer.bundle), offer.size, 'not downloaded again');
  t.is(
    why.filter((l) => l.code === 'OWL_ERR_SLOTS_BUSY').length,
    1,
    'the wait is one line, not one per retry',
  );
  await relay.stop();

  // On the trial, the lock held again when the relay is healthy: the commit waits, then happens.
  const operator = await holder(root, 'owl-firmware slots status');
  t.teardown(operator.kill);
  const second: string[] = [];
  const onTrial = await relayOn(receiver.url, dir, root, key.publicKeyFile, second);
  t.teardown(() => onTrial.stop());
  await eventually(
    () => second.some((l) => l.includes('firmware commit waits for the slots lock')),
    20_000,
    'the commit put off',
  );
  t.is(new SlotSet({ root }).state().state, 'trial');
  await operator.kill();
  await eventually(() => new SlotSet({ root }).state().state === 'committed', 10_000, 'committed once free');
});

test("the agent's health commit on a busy slot root: not committed, tried again at the next ACK, committed once free", async (t) => {
  const tmp = tempDir('owl-slots-lock-agent-');
  t.teardown(tmp.remove);
  const root = join(tmp.path, 'opt-owl-agent');
  const slots = installCommitted(root, launcherTree(join(tmp.path, 'tree-1'), 'owl-agent', '1.0.0'), '1.0.0');
  slots.install(launcherTree(join(tmp.path, 'tree-2'), 'owl-agent', '2.0.0'), '2.0.0');
  slots.switch();
  const health = new HealthCommit(root, true);
  const operator = await holder(root, 'owl-firmware slots status');
  t.teardown(operator.kill);
  const first = health.acked();
  t.is(first?.committed, false);
  t.regex(
    (first as { reason?: string }).reason ?? '',
    /^OWL_ERR_SLOTS_BUSY: .* owl-firmware slots status by pid/,
  );
  t.true(health.pending, 'the next ACK tries again');
  t.is(new SlotSet({ root }).state().state, 'trial');
  await operator.kill();
  t.deepEqual(health.acked(), { committed: true, version: '2.0.0' });
  t.false(health.pending);
});
