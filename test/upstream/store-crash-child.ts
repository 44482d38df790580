/**
 * Child process of store-crash.test.ts (and the data both sides agree on):
 * writes batches to a RocksSampleStore forever, each with a meta record
 * naming it, and prints `ok <batch>` after each write resolves. The parent
 * SIGKILLs it at a random moment.
 *
 *   node --import tsx test/upstream/store-crash-child.ts <dir> <firstBatch>
 */
import { fileURLToPath } from 'node:url';
import { RocksSampleStore, putMeta, type StorePoint } from '../../upstream/index.js';

export const CRASH = {
  series: 40,
  bucketMs: 60_000,
  maxPendingPoints: 400,
  t0: Date.UTC(2026, 0, 1),
} as const;

/** Batch b: every series at t0 + b * 10 s, plus a rewrite of batch b-1's timestamp for series 0. */
export function crashPoints(b: number): StorePoint[] {
  const out: StorePoint[] = [];
  for (let s = 0; s < CRASH.series; s++) {
    out.push({
      metric: 'crash',
      tags: { s: String(s) },
      timestampMs: CRASH.t0 + b * 10_000,
      value: b * 1000 + s,
    });
  }
  if (b > 0)
    out.push({ metric: 'crash', tags: { s: '0' }, timestampMs: CRASH.t0 + (b - 1) * 10_000, value: -b });
  return out;
}

/** The value series `s` holds at batch `b`'s timestamp once batches up to `last` (>= b) are stored. */
export function expectedValue(b: number, s: number, last: number): number {
  return s === 0 && last > b ? -(b + 1) : b * 1000 + s;
}

async function main(dir: string, first: number): Promise<void> {
  const store = await RocksSampleStore.open({
    location: dir,
    bucketMs: CRASH.bucketMs,
    // Small, so checkpoints (and their chunks) run, and get killed, mid-test.
    maxPendingPoints: CRASH.maxPendingPoints,
    checkpointChunkBlocks: 16,
  });
  for (let b = first; ; b++) {
    await store.write(crashPoints(b), { meta: [putMeta('last', String(b))] });
    process.stdout.write(`ok ${b}\n`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [dir, first] = process.argv.slice(2);
  if (dir === undefined || first === undefined)
    throw new Error('usage: store-crash-child <dir> <firstBatch>');
  await main(dir, Number(first));
}
