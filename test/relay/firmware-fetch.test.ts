/**
 * A relay fetching a bundle its upstream offers: complete and byte-exact in its cache, paced (one
 * chunk request in flight, a pause after each), reported upstream, and deleted once no longer
 * offered. A real relay (RocksDB spool) and the fake upstream speaking the real wire format.
 */
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareErrorCode } from '../../firmware/index.js';
import { FIRMWARE_FEATURE } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { makeBundle, scratch, sha256, signingKey } from './firmware-fixture.js';

test('an offered agent bundle is fetched whole, byte-exact, paced, one request in flight; withdrawn, it is deleted', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0', filler: 600 * 1024 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  // A slow link: 40 ms a chunk; at share 0.5 the relay waits as long again before the next request.
  receiver.chunkDelayMs = 40;
  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const stateDir = join(dir, 'state');
  const { relay } = await startRelay(receiver.url, stateDir, {
    firmware: { chunkBytes: 64 * 1024, share: 0.5 },
  });
  t.teardown(() => relay.stop());

  const cached = join(stateDir, 'firmware', `${offer.bundle}.owlfw`);
  await eventually(() => existsSync(cached), 30_000, 'the bundle complete in the cache');
  t.is(sha256(cached), offer.bundle);
  t.deepEqual(readFileSync(cached), readFileSync(file));
  t.false(existsSync(join(stateDir, 'firmware', `${offer.bundle}.part`)));
  t.deepEqual(receiver.helloFeatures.get(RELAY_ID), [FIRMWARE_FEATURE]);

  // Every byte asked for once, in order, one request at a time.
  const requests = receiver.chunkRequests.filter((r) => r.bundle === offer.bundle);
  t.is(receiver.requestedBytes(offer.bundle), offer.size);
  t.deepEqual(
    requests.map((r) => r.offset),
    requests.map((_r, i) => i * 64 * 1024),
  );
  t.is(receiver.firmwareMaxInFlight, 1);
  // Paced: each request came at least (chunk time) + (chunk time)*(1-share)/share after the one before.
  const chunks = requests.length;
  t.true(chunks >= 10, `${chunks} chunks`);
  const fetched = await relay.metrics.firmwareBytesFetched.get();
  t.is(fetched.values[0]?.value, offer.size);

  // Reported upstream: the relay's own unit (not from slots here).
  await eventually(() => receiver.lastReport(RELAY_ID) !== undefined, 10_000, 'a relay report');
  const self = receiver.lastReport(RELAY_ID);
  t.is(self?.program, 'owl-relay');
  t.is(self?.state, 'none');
  t.is(relay.status().firmware.cached, 1);

  // No longer offered: deleted.
  receiver.withdrawFirmware(offer.bundle);
  await eventually(() => !existsSync(cached), 10_000, 'the withdrawn bundle deleted');
  t.is(relay.status().firmware.offered, 0);
});

test('pacing: after a chunk that took t ms the next request waits t*(1-share)/share', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0', filler: 300 * 1024 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  receiver.chunkDelayMs = 50;
  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const stateDir = join(dir, 'state');
  const { relay } = await startRelay(receiver.url, stateDir, {
    firmware: { chunkBytes: 32 * 1024, share: 0.25 },
  });
  t.teardown(() => relay.stop());
  await eventually(
    () => existsSync(join(stateDir, 'firmware', `${offer.bundle}.owlfw`)),
    60_000,
    'the bundle complete',
  );
  // Each chunk takes >= 50 ms; at share 0.25 the relay then waits 3 × that: >= 200 ms per request.
  const stamps = receiver.chunkRequests.map((r) => r.at);
  const gaps = stamps.slice(1).map((s, i) => s - (stamps[i] as number));
  t.true(gaps.length >= 5, `${gaps.length} gaps`);
  for (const gap of gaps) t.true(gap >= 190, `a request only ${gap} ms after the one before`);
});

test('a fetched file whose sha256 is not its id is deleted and fetched once more, then refused as corrupt', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0', filler: 100 * 1024 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  // The bytes served are no longer those the id names (a torn or altered file on the way).
  writeFileSync(file, tampered(readFileSync(file)));
  const stateDir = join(dir, 'state');
  const { relay } = await startRelay(receiver.url, stateDir, { firmware: { chunkBytes: 64 * 1024 } });
  t.teardown(() => relay.stop());
  await eventually(
    () => receiver.lastReport(RELAY_ID)?.refused?.code === FirmwareErrorCode.CORRUPT,
    20_000,
    'a CORRUPT report',
  );
  t.is(receiver.requestedBytes(offer.bundle), 2 * offer.size, 'fetched twice, then refused');
  t.false(existsSync(join(stateDir, 'firmware', `${offer.bundle}.part`)));
  t.false(existsSync(join(stateDir, 'firmware', `${offer.bundle}.owlfw`)));
});

test('a bundle over the cache cap is refused without being fetched', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0', filler: 1536 * 1024 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const { relay } = await startRelay(receiver.url, join(dir, 'state'), {
    firmware: { maxCacheBytes: 1024 * 1024 },
  });
  t.teardown(() => relay.stop());
  await eventually(
    () => receiver.lastReport(RELAY_ID)?.refused?.code === FirmwareErrorCode.TOO_LARGE,
    10_000,
    'a TOO_LARGE report',
  );
  t.is(receiver.lastReport(RELAY_ID)?.refused?.bundle, offer.bundle);
  t.is(receiver.requestedBytes(offer.bundle), 0);
});

/** `bytes` with one byte flipped in the middle. */
function tampered(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const at = out.length >> 1;
  out[at] = (out[at] as number) ^ 0xff;
  return out;
}
