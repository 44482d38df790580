/**
 * The agent with a real relay (in-process, its upstream a real uplink receiver): the upstream
 * offers an owl-agent bundle, the relay fetches and caches it and offers it to the agent (the
 * real CLI, a child process), which installs it, switches and exits 75; started again it commits
 * after its first acknowledged batch, and its reports reach the upstream under its uuid.
 */
import { join } from 'node:path';
import test from 'ava';
import { prestart, SlotSet } from '../../firmware/index.js';
import { eventually } from '../helpers/agent-client.js';
import { bundleKit, HOST_ARCH, installedSlots, makeBundle } from '../helpers/firmware-agent-bundles.js';
import { startFirmwareAgent } from '../helpers/firmware-agent-proc.js';
import type { OwlProcess } from '../helpers/owl-cli.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';

const ZONE_TOKEN = 'zone-token-fw-agent';

test('a bundle published upstream reaches the agent through a real relay: switched, then committed', async (t) => {
  const tmp = tempDir('owl-agent-fw-relay-');
  t.teardown(tmp.remove);
  const dir = tmp.path;
  const kit = bundleKit(dir);
  const root = join(dir, 'slots');
  installedSlots(root, '1.0.0', dir);
  const bundle = await makeBundle(kit, { version: '1.1.0', bulkBytes: 300_000 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const { relay, port } = await startRelay(receiver.url, join(dir, 'relay'), { zoneToken: ZONE_TOKEN });
  t.teardown(() => relay.stop());
  receiver.offerFirmware(bundle.file, { program: 'owl-agent', arch: HOST_ARCH, version: '1.1.0' });

  const start = async (): Promise<OwlProcess> => {
    const agent = await startFirmwareAgent({
      dir,
      root,
      keys: [kit.publicKeyFile],
      relay: `127.0.0.1:${port}`,
      token: ZONE_TOKEN,
    });
    t.teardown(async () => {
      if (!t.passed) t.log(agent.log.map((l) => JSON.stringify(l)).join('\n'), agent.stderrTail);
      await agent.kill();
    });
    return agent;
  };
  const first = await start();
  await first.waitExit(60_000);
  t.is(first.exitCode, 75);
  t.deepEqual(new SlotSet({ root }).status().current, { slot: 'b', version: '1.1.0' });
  const uuid = first.log.find((l) => l.msg === 'owl-agent running')?.uuid as string;
  t.like(receiver.lastReport(RELAY_ID, uuid), { program: 'owl-agent', version: '1.0.0', state: 'trial' });

  prestart(root);
  await start();
  await eventually(
    () => receiver.lastReport(RELAY_ID, uuid)?.state === 'committed',
    30_000,
    'the commit reported upstream',
  );
  t.like(receiver.lastReport(RELAY_ID, uuid), { version: '1.1.0', arch: HOST_ARCH });
  t.is(new SlotSet({ root }).state().state, 'committed');
});
