/**
 * kill -9 between "batch durable" and "ack sent": the upstream runs in a
 * child process whose afterStore hook SIGKILLs it for one chosen batch. The
 * relay (scripted here) never got that ack, so it resends the batch to the
 * restarted upstream on the same state dir, which must answer DUPLICATE and
 * hold every sample exactly once.
 */
import test from 'ava';
import { BatchAckStatus } from '../../protocol/index.js';
import { Child } from '../helpers/child-process.js';
import { tempDir } from '../helpers/relay-harness.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { range, seqSamples, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const UUID = '0cc175b9c0f1b6a831c399e269772661';
const T0 = 1_718_000_000;
const RELAY = 'plant-7';

interface Running {
  child: Child;
  base: string;
  api: ApiTarget;
}

async function startChild(
  stateDir: string,
  killAfterStore?: { relay: string; firstSeq: number },
): Promise<Running> {
  const child = Child.start('upstream-main.ts', [
    JSON.stringify({ config: { stateDir }, ...(killAfterStore === undefined ? {} : { killAfterStore }) }),
  ]);
  const m = await child.waitLine(/^READY (\d+) (\d+) (\S+)$/, 30_000);
  return {
    child,
    base: `ws://127.0.0.1:${m[1]}`,
    api: { port: Number(m[2]), token: m[3] as string },
  };
}

test('killed after storing a batch but before acking it, the restarted upstream answers its resend DUPLICATE; nothing lost or doubled', async (t) => {
  const dir = tempDir('owl-upstream-crash-');
  t.teardown(() => dir.remove());
  const stateDir = `${dir.path}/up`;

  const first = await startChild(stateDir, { relay: RELAY, firstSeq: 10 });
  t.teardown(() => first.child.kill());
  const added = await callApi(first.api, 'POST', '/api/v1/relays', { id: RELAY });
  t.is(added.status, 201);
  const token = (added.body as { token: string }).token;

  const { client } = await UplinkTestClient.open(first.base, RELAY, token, 'spool-a');
  t.is(await client.sendBatch(seqSamples(range(0, 9), { uuid: UUID, t0: T0 })), BatchAckStatus.STORED);
  // This one is durable when the hook fires; its ack is never sent.
  client.send({
    type: 'BATCH',
    body: UplinkTestClient.batch(seqSamples(range(10, 19), { uuid: UUID, t0: T0 })),
  });
  await first.child.waitExit(15_000);
  t.is(first.child.exitSignal, 'SIGKILL');
  t.true(first.child.lines.includes(`KILLING ${RELAY} 10 19`), 'killed in the afterStore hook');
  await client.waitClosed();
  t.false(
    client.received.some((m) => m.type === 'BATCH_ACK' && m.body.firstSeq === 10),
    'no ack for the killed batch',
  );

  // Same state dir, no kill: the relay reconnects with everything from 10 unacknowledged.
  const second = await startChild(stateDir);
  t.teardown(() => second.child.kill());
  t.is(second.api.token, first.api.token, 'API token kept in the state dir');
  const again = await UplinkTestClient.open(second.base, RELAY, token, 'spool-a', 10);
  const resend = seqSamples(range(10, 19), { uuid: UUID, t0: T0, valueOffset: 1000 });
  t.is(await again.client.sendBatch(resend), BatchAckStatus.DUPLICATE);
  // Rebuilt with other boundaries after the restart: only 20..24 are new.
  t.is(
    await again.client.sendBatch(seqSamples(range(15, 24), { uuid: UUID, t0: T0, valueOffset: 2000 })),
    BatchAckStatus.STORED,
  );

  const q = await callApi(second.api, 'GET', `/api/v1/query?metric=cpu.user&tag.uuid=${UUID}&from=0`);
  t.is(q.status, 200);
  const series = q.body as { timestampsMs: number[]; values: number[] }[];
  t.is(series.length, 1);
  t.deepEqual(
    series[0]?.timestampsMs,
    range(0, 24).map((s) => (T0 + s) * 1000),
  );
  t.deepEqual(
    series[0]?.values,
    [...range(0, 19), ...range(2020, 2024)],
    'the resent values were never stored',
  );
  const stats = (await callApi(second.api, 'GET', '/api/v1/stats')).body as {
    points: number;
    samples: number;
    duplicates: number;
  };
  t.is(stats.points, 25);
  t.is(stats.samples, 5, 'the restarted upstream wrote only 20..24');
  t.is(stats.duplicates, 1);
  await again.client.close();
});
