/**
 * kill -9 mid-download: the relay (`owl-relay run`, a child process) is SIGKILLed while it
 * fetches a bundle; started again, it resumes at its .part file's size instead of starting over,
 * and completes byte-exact.
 */
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../helpers/agent-client.js';
import { startRelayCli } from '../helpers/owl-cli.js';
import { RELAY_ID, RELAY_TOKEN } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { makeBundle, scratch, sha256, signingKey } from './firmware-fixture.js';

const CHUNK = 64 * 1024;

test('a relay SIGKILLed mid-download resumes at its .part size after restart and completes', async (t) => {
  t.timeout(120_000);
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, {
    program: 'owl-agent',
    version: '2.0.0',
    filler: 2 * 1024 * 1024,
  });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  receiver.chunkDelayMs = 10;
  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const stateDir = join(dir, 'state');
  const part = join(stateDir, 'firmware', `${offer.bundle}.part`);
  const cached = join(stateDir, 'firmware', `${offer.bundle}.owlfw`);
  const start = () =>
    startRelayCli({
      stateDir,
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreamUrl: receiver.url,
      zoneToken: 'zone-token-1234',
      config: { firmware: { chunkBytes: CHUNK, share: 0.5 } },
    });

  const first = await start();
  t.teardown(() => first.proc.kill());
  const size = (): number => (existsSync(part) ? statSync(part).size : 0);
  await eventually(() => size() >= offer.size * 0.4, 60_000, '40 % of the bundle fetched');
  await first.proc.kill();
  const kept = size();
  t.true(kept > 0 && kept < offer.size, `${kept} of ${offer.size} bytes kept`);
  const askedBefore = receiver.chunkRequests.length;

  const second = await start();
  t.teardown(() => second.proc.stop());
  await eventually(() => existsSync(cached), 60_000, 'the bundle complete after the restart');
  t.is(sha256(cached), offer.bundle);
  t.deepEqual(readFileSync(cached), readFileSync(file));
  // The first request after the restart starts where the .part file ended, not at 0.
  const resumedAt = receiver.chunkRequests[askedBefore]?.offset;
  t.is(resumedAt, kept);
  const requested = receiver.requestedBytes(offer.bundle);
  t.true(requested < 2 * offer.size, `${requested} bytes requested for a ${offer.size}-byte bundle`);
  const started = second.proc.log.find((l) => l.msg === 'firmware download started');
  t.is(started?.['from'], kept);
});
