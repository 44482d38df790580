/**
 * Child process of store-forward.test.ts: writes batches to a
 * RocksSampleStore with one forwarding sink forever, and at the same time
 * forwards them to a "sink" that is a file (one line per point:
 * `seq metric s timestampMs value`), acknowledging each read once its lines
 * are written. The parent SIGKILLs it at a random moment.
 *
 *   node --import tsx test/upstream/store-forward-crash-child.ts <dir> <firstBatch> <sinkFile>
 */
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RocksSampleStore, putMeta, type ForwardOptions, type StorePoint } from '../../upstream/index.js';

export const FWD_CRASH = {
  series: 10,
  bucketMs: 60_000,
  maxPendingPoints: 100,
  t0: Date.UTC(2026, 0, 1),
  forward: { sinks: ['file'], maxBytes: 1e9, policy: 'reject-new' } satisfies ForwardOptions,
} as const;

/** Batch b: every series at t0 + b * 10 s, value b * 1000 + series. */
export function fwdCrashPoints(b: number): StorePoint[] {
  return Array.from({ length: FWD_CRASH.series }, (_, s) => ({
    metric: 'fwd',
    tags: { s: String(s) },
    timestampMs: FWD_CRASH.t0 + b * 10_000,
    value: b * 1000 + s,
  }));
}

export function openFwdStore(dir: string): Promise<RocksSampleStore> {
  return RocksSampleStore.open({
    location: dir,
    bucketMs: FWD_CRASH.bucketMs,
    // Small, so checkpoints run (and delete acknowledged records) mid-test.
    maxPendingPoints: FWD_CRASH.maxPendingPoints,
    checkpointChunkBlocks: 4,
    forward: FWD_CRASH.forward,
  });
}

/** Forward what the sink has not accepted to `sinkFile`, then ack; false when there was nothing. */
export async function forwardOnce(store: RocksSampleStore, sinkFile: string): Promise<boolean> {
  const b = await store.readForward('file', -1, 50);
  if (b.records.length === 0) return false;
  const lines = b.records.flatMap((r) =>
    r.points.map((p) => `${r.seq} ${p.metric} ${p.tags.s} ${p.timestampMs} ${p.value}\n`),
  );
  appendFileSync(sinkFile, lines.join(''));
  await store.ackForward('file', b.lastSeq);
  return true;
}

async function main(dir: string, first: number, sinkFile: string): Promise<void> {
  const store = await openFwdStore(dir);
  void (async () => {
    for (;;) {
      // Poll: nothing to forward yet waits a moment (a child's loop, not a test's synchronisation).
      if (!(await forwardOnce(store, sinkFile))) await new Promise((r) => setTimeout(r, 1));
    }
  })();
  for (let b = first; ; b++) {
    await store.write(fwdCrashPoints(b), { meta: [putMeta('last', String(b))] });
    process.stdout.write(`ok ${b}\n`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [dir, first, sinkFile] = process.argv.slice(2);
  if (dir === undefined || first === undefined || sinkFile === undefined)
    throw new Error('usage: store-forward-crash-child <dir> <firstBatch> <sinkFile>');
  await main(dir, Number(first), sinkFile);
}
