/**
 * The upstream's side of a slow relay: bundle bytes must not pile up in its memory when a relay
 * stops reading. A scripted relay (real uplink frames) pauses its socket and keeps asking for
 * 1 MiB chunks (at most 4 unanswered, as the channel allows): the upstream sends until the kernel's
 * buffers are full and its socket holds more than SEND_HIGH_WATER_BYTES, then waits. Once the
 * relay reads again every chunk arrives, in order, and the bundle reassembles exactly.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { FIRMWARE_MAX_CHUNK_BYTES } from '../../protocol/index.js';
import { MAX_CHUNK_REQUESTS_IN_FLIGHT, SEND_HIGH_WATER_BYTES } from '../../upstream/firmware/index.js';
import type { Upstream } from '../../upstream/index.js';
import { eventually } from '../helpers/agent-client.js';
import { testBundle, testKey } from '../helpers/firmware-upstream-bundles.js';
import { tempDir } from '../helpers/relay-harness.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { startUpstream } from '../helpers/upstream-harness.js';
import { UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const RELAY = 'zone-slow';
/** Larger than the kernel's buffers on a paused loopback socket (about 4 MiB) several times over. */
const BUNDLE_BYTES = 24 * 1024 * 1024;
/** How long the upstream must send nothing, with requests unanswered, to count as waiting. */
const STALL_MS = 1500;

/** Chunk bytes the upstream sent to RELAY (its metric). */
async function sentBytes(up: Upstream): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${up.metricsAddress?.port ?? 0}/metrics`)).text();
  const series = `owl_upstream_firmware_sent_bytes_total{relay="${RELAY}"} `;
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

test('a relay that stops reading: the upstream waits while more than 1 MiB is unsent; every chunk arrives in order once it reads', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('owl-fw-slow-');
  t.teardown(() => dir.remove());
  const up = await startUpstream(join(dir.path, 'up'));
  t.teardown(() => up.stop());
  const api: ApiTarget = { port: up.apiAddress.port, token: up.apiToken };
  const token = ((await callApi(api, 'POST', '/api/v1/relays', { id: RELAY })).body as { token: string })
    .token;
  const b = await testBundle(dir.path, testKey(dir.path), {
    program: 'owl-agent',
    version: '1.0.0',
    padBytes: BUNDLE_BYTES,
  });
  const published = await callApi(api, 'POST', `/api/v1/firmware?zones=${RELAY}`, b.bytes);
  t.is(published.status, 201);
  const { client } = await UplinkTestClient.open(
    `ws://127.0.0.1:${up.uplinkAddress.port}`,
    RELAY,
    token,
    'spool-slow',
  );
  t.teardown(() => client.terminate());
  await client.next('FIRMWARE_OFFER');

  const size = b.bytes.length;
  const chunks = Math.ceil(size / FIRMWARE_MAX_CHUNK_BYTES);
  const ask = (n: number): void =>
    client.send({
      type: 'FIRMWARE_CHUNK_REQ',
      body: {
        id: n + 1,
        bundle: b.id,
        offset: n * FIRMWARE_MAX_CHUNK_BYTES,
        length: FIRMWARE_MAX_CHUNK_BYTES,
      },
    });
  // The relay stops reading: what the upstream sends stays in the kernel, then in its socket.
  const socket = (client.ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  let asked = 0;
  let sent = 0;
  let lastMove = Date.now();
  for (;;) {
    const now = await sentBytes(up);
    if (now !== sent) lastMove = Date.now();
    sent = now;
    const answered = Math.ceil(sent / FIRMWARE_MAX_CHUNK_BYTES);
    if (answered >= chunks) break;
    while (asked < chunks && asked - answered < MAX_CHUNK_REQUESTS_IN_FLIGHT) ask(asked++);
    if (Date.now() - lastMove > STALL_MS) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const sentWhilePaused = sent;
  t.log(
    `paused: the upstream sent ${(sentWhilePaused / 2 ** 20).toFixed(1)} MiB of ${(size / 2 ** 20).toFixed(1)} MiB, while the relay did not read`,
  );
  t.true(sentWhilePaused < size, 'the upstream stopped sending to a relay that does not read');
  // The kernel's buffers (about 3 MiB here; 12 allowed), SEND_HIGH_WATER_BYTES and one chunk more.
  t.true(
    sentWhilePaused <= 12 * 2 ** 20 + SEND_HIGH_WATER_BYTES + FIRMWARE_MAX_CHUNK_BYTES,
    `${sentWhilePaused} bytes sent before it waited`,
  );

  // Reading again: the rest follows, in order, and the bundle is whole.
  socket.resume();
  const parts: Buffer[] = [];
  for (let n = 0; n < chunks; n++) {
    while (asked < chunks && asked - n < MAX_CHUNK_REQUESTS_IN_FLIGHT) ask(asked++);
    const got = await client.next('FIRMWARE_CHUNK', undefined, 30_000);
    t.is(got.body.id, n + 1, 'answers in the order asked');
    parts.push(Buffer.from(got.body.data));
  }
  t.is(createHash('sha256').update(Buffer.concat(parts)).digest('hex'), b.id);
  await eventually(async () => (await sentBytes(up)) === size, 10_000, 'the metric counts every byte once');
});
