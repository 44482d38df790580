/**
 * Bundles the agent must refuse, with the real owl-agent CLI against the scripted relay: a
 * tampered file, a wrong key, a wrong architecture, a downgrade; each refused with its code
 * before anything is written to a slot, logged once, reported in FWCHECK's `refused`, and never
 * fetched again. With no key pinned a bundle is refused before it is fetched; without a slot
 * root updates are off but the version is reported; a relay without `firmware` gets no FWCHECK.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AGENT_VERSION } from '../../agent/index.js';
import { FirmwareErrorCode } from '../../firmware/index.js';
import { eventually } from '../helpers/agent-client.js';
import {
  bundleKit,
  installedSlots,
  makeBundle,
  OTHER_ARCH,
  tamperedCopy,
  type TestBundle,
} from '../helpers/firmware-agent-bundles.js';
import { agentPaths, startFirmwareAgent, type AgentRun } from '../helpers/firmware-agent-proc.js';
import { FirmwareAgentRelay } from '../helpers/firmware-agent-relay.js';
import type { OwlProcess } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

async function setup(t: ExecutionContext, features?: string[]) {
  const tmp = tempDir('owl-agent-fw-');
  t.teardown(tmp.remove);
  const dir = tmp.path;
  const kit = bundleKit(dir);
  const root = join(dir, 'slots');
  installedSlots(root, '1.0.0', dir);
  const relay = await FirmwareAgentRelay.start(features ? { features } : {});
  t.teardown(() => relay.close());
  const start = async (o: Partial<AgentRun> = {}): Promise<OwlProcess> => {
    const agent = await startFirmwareAgent({
      dir,
      root,
      keys: [kit.publicKeyFile],
      relay: relay.address,
      chunkBytes: 8192,
      ...o,
    });
    t.teardown(async () => {
      if (!t.passed) t.log(agent.log.map((l) => JSON.stringify(l)).join('\n'), agent.stderrTail);
      await agent.kill();
    });
    return agent;
  };
  return { dir, kit, root, relay, start };
}

/** Every name under the slot root with update.json's text: what "nothing written to a slot" compares. */
function slotSnapshot(root: string): string[] {
  return readdirSync(root, { recursive: true })
    .map(String)
    .sort()
    .concat(readFileSync(join(root, 'update.json'), 'utf8'));
}

test('tampered, wrong key, wrong arch, downgrade: each refused with its code before a slot is touched, never fetched again', async (t) => {
  t.timeout(120_000);
  const { dir, kit, root, relay, start } = await setup(t);
  const good = await makeBundle(kit, { version: '1.1.0', bulkBytes: 20_000 });
  const cases: Array<[string, TestBundle, string]> = [
    ['tampered', tamperedCopy(good, join(dir, 'tampered.owlfw')), FirmwareErrorCode.CORRUPT],
    ['wrong key', await makeBundle(kit, { version: '1.1.0', key: 'b' }), FirmwareErrorCode.UNKNOWN_KEY],
    [
      'wrong arch',
      await makeBundle(kit, { version: '1.1.0', arch: OTHER_ARCH }),
      FirmwareErrorCode.WRONG_ARCH,
    ],
    ['downgrade', await makeBundle(kit, { version: '0.9.0' }), FirmwareErrorCode.DOWNGRADE],
  ];
  const before = slotSnapshot(root);
  const agent = await start();
  for (const [what, bundle, code] of cases) {
    relay.offer = bundle;
    await eventually(() => relay.lastCheck?.refused?.bundle === bundle.id, 30_000, `${what} refused`);
    t.like(relay.lastCheck?.refused, { code, version: bundle.version }, what);
    t.deepEqual(slotSnapshot(root), before, `${what}: no slot written`);
    t.true(
      relay.chunkRequests.some((r) => r.bundle === bundle.id),
      `${what}: fetched before it was refused`,
    );
  }
  // Still offered (the last one), never fetched again, each logged once.
  const requests = relay.chunkRequests.length;
  const checks = relay.checks.length;
  await eventually(() => relay.checks.length >= checks + 2, 10_000, 'two more FWCHECKs');
  t.is(relay.chunkRequests.length, requests, 'a refused bundle is not fetched again');
  const refusedLines = agent.log.filter((l) => l.msg === 'firmware bundle refused');
  t.deepEqual(
    refusedLines.map((l) => l.code),
    cases.map(([, , code]) => code),
  );
  const saved = JSON.parse(readFileSync(join(agentPaths(dir).firmwareDir, 'refused.json'), 'utf8')) as {
    ids: string[];
  };
  t.deepEqual(
    saved.ids,
    cases.filter(([, , code]) => code !== FirmwareErrorCode.UNKNOWN_KEY).map(([, b]) => b.id),
    'kept across restarts, except the refusal for want of a key (the keys may be fixed by then)',
  );
  t.deepEqual(readdirSync(agentPaths(dir).firmwareDir), ['refused.json'], 'no bundle or staging left');
  t.like(relay.lastCheck, { version: '1.0.0', state: 'committed' });
  t.deepEqual(relay.parseErrors, []);
});

test('a refused bundle stays refused after a restart', async (t) => {
  const { kit, relay, start } = await setup(t);
  const bad = await makeBundle(kit, { version: '1.1.0', arch: OTHER_ARCH });
  relay.offer = bad;
  const first = await start();
  await eventually(() => relay.lastCheck?.refused?.bundle === bad.id, 30_000, 'refused');
  await first.kill();
  const requests = relay.chunkRequests.length;
  const checks = relay.checks.length;
  await start();
  await eventually(() => relay.checks.length >= checks + 2, 10_000, 'two FWCHECKs after the restart');
  t.is(relay.chunkRequests.length, requests);
  t.like(relay.checks[checks]?.refused, { bundle: bad.id, code: FirmwareErrorCode.WRONG_ARCH });
});

test('no key pinned: every bundle refused before it is fetched, reported once', async (t) => {
  const { kit, root, relay, start } = await setup(t);
  const before = slotSnapshot(root);
  relay.offer = await makeBundle(kit, { version: '1.1.0' });
  const agent = await start({ keys: [] });
  await eventually(() => relay.lastCheck?.refused !== undefined, 30_000, 'refused');
  t.is(relay.lastCheck?.refused?.code, FirmwareErrorCode.UNKNOWN_KEY);
  const checks = relay.checks.length;
  await eventually(() => relay.checks.length >= checks + 2, 10_000, 'two more FWCHECKs');
  t.is(relay.chunkRequests.length, 0);
  t.is(agent.log.filter((l) => l.msg === 'firmware bundle refused').length, 1);
  t.deepEqual(slotSnapshot(root), before);
});

test('without a slot root: updates off, the agent version reported with state none', async (t) => {
  const { kit, relay, start } = await setup(t);
  relay.offer = await makeBundle(kit, { version: '9.0.0' });
  await start({ root: undefined });
  await eventually(() => relay.checks.length >= 2, 10_000, 'two FWCHECKs');
  t.like(relay.checks[0], { program: 'owl-agent', version: AGENT_VERSION, state: 'none' });
  t.is(relay.chunkRequests.length, 0);
});

test('a relay without the firmware feature gets no firmware packet', async (t) => {
  const { relay, start } = await setup(t, ['batch', 'ack']);
  const acks = relay.acked;
  await start();
  await eventually(() => relay.acked >= acks + 2, 15_000, 'two batches acknowledged');
  t.is(relay.checks.length, 0);
  t.deepEqual(relay.parseErrors, []);
});
