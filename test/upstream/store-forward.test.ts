/**
 * Forwarding on RocksSampleStore where the database itself is looked at
 * (which log records are left on disk) and across kill -9
 * (store-forward-crash-child.ts). The behaviour both backends share is in
 * store-forward-conformance.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RocksLevel } from '@nxtedition/rocksdb';
import test, { type ExecutionContext } from 'ava';
import { RocksSampleStore, StoreErrorCode, type ForwardOptions } from '../../upstream/index.js';
import { MIN, pt, rejectsWith, T0, tempDir } from '../helpers/store-fixture.js';
import { FWD_CRASH, forwardOnce, openFwdStore } from './store-forward-crash-child.js';
import { readAll } from './store-forward-conformance.js';

const CHILD = fileURLToPath(new URL('./store-forward-crash-child.ts', import.meta.url));

/** The seqs of the log records (`w` keys) in a closed store's database. */
async function logSeqsOnDisk(location: string): Promise<number[]> {
  const db = new RocksLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const rows = await db.iterator({ gte: Buffer.from([0x77]), lt: Buffer.from([0x78]) }).all();
    return rows.map(([k]) => k.readUInt32BE(1) * 2 ** 32 + k.readUInt32BE(5));
  } finally {
    await db.close();
  }
}

const fwd = (sinks: string[]): ForwardOptions => ({ sinks, maxBytes: 1e9, policy: 'drop-oldest' });

function open(location: string, forward?: ForwardOptions): Promise<RocksSampleStore> {
  return RocksSampleStore.open({ location, bucketMs: MIN, ...(forward ? { forward } : {}) });
}

async function writeN(store: RocksSampleStore, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) await store.write([pt('m', { host: 'a' }, T0 + i * 1000, i)]);
}

test('a checkpoint keeps the records a sink has not accepted, and deletes them after the ack; none is replayed', async (t) => {
  const location = path.join(await tempDir(t), 'store');
  let store = await open(location, fwd(['vm']));
  await writeN(store, 0, 5);
  await store.close(); // folds everything
  t.deepEqual(await logSeqsOnDisk(location), [0, 1, 2, 3, 4], 'folded, kept for the sink');

  store = await open(location, fwd(['vm']));
  t.is(store.counters().pendingPoints, 0, 'records kept for sinks are not replayed into pending');
  const all = await readAll(store, 'vm');
  t.is(all.length, 5);
  await store.ackForward('vm', 1);
  await store.close();
  t.deepEqual(await logSeqsOnDisk(location), [2, 3, 4], 'the ack deleted the folded records it passed');

  store = await open(location, fwd(['vm']));
  await writeN(store, 5, 2); // seqs 5, 6: pending, not folded
  await store.ackForward('vm', 6);
  // Acked but not folded: the records stay until the checkpoint has folded them.
  t.is(store.counters().pendingPoints, 2);
  await store.flush();
  await store.close();
  t.deepEqual(await logSeqsOnDisk(location), []);

  store = await open(location, fwd(['vm']));
  const q = await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN });
  t.deepEqual(q[0]?.values, [0, 1, 2, 3, 4, 5, 6]);
  t.deepEqual(await store.stats(), { series: 1, points: 7, samples: 0 });
  await writeN(store, 7, 1);
  t.deepEqual(
    (await readAll(store, 'vm')).map((r) => r.seq),
    [7],
    'seqs go on after an empty log',
  );
  await store.close();
});

test('forwarding switched off: the records kept for sinks are deleted at open, the data stays', async (t) => {
  const location = path.join(await tempDir(t), 'store');
  let store = await open(location, fwd(['vm']));
  await writeN(store, 0, 3);
  await store.close();
  t.is((await logSeqsOnDisk(location)).length, 3);
  store = await open(location);
  await rejectsWith(t, store.readForward('vm', -1, 10), StoreErrorCode.BAD_QUERY);
  t.deepEqual(await store.stats(), { series: 1, points: 3, samples: 0 });
  await store.close();
  t.deepEqual(await logSeqsOnDisk(location), []);
  // A sink removed from the list loses its cursor; the others keep theirs.
  store = await open(location, fwd(['a', 'b']));
  await writeN(store, 3, 2);
  await store.ackForward('a', (await readAll(store, 'a')).at(-1)!.seq);
  await store.close();
  t.is((await logSeqsOnDisk(location)).length, 2, 'b has not accepted them');
  store = await open(location, fwd(['a']));
  t.is((await store.forwardStats())?.logBytes, 0);
  await store.close();
  t.deepEqual(await logSeqsOnDisk(location), []);
});

test('bad forwarding options are refused at open', async (t) => {
  const location = path.join(await tempDir(t), 'store');
  const bad: Array<Partial<ForwardOptions> | undefined> = [
    { sinks: ['a', 'a'], maxBytes: 1, policy: 'drop-oldest' },
    { sinks: [''], maxBytes: 1, policy: 'drop-oldest' },
    { sinks: ['a'], maxBytes: 0, policy: 'drop-oldest' },
    { sinks: ['a'], maxBytes: 1, policy: 'sometimes' as never },
  ];
  for (const forward of bad) {
    await rejectsWith(t, open(location, forward as ForwardOptions), StoreErrorCode.BAD_OPTION);
  }
  await rejectsWith(t, RocksSampleStore.open({ location, keepSamples: false }), StoreErrorCode.BAD_OPTION);
});

/** Run the child from batch `first`; SIGKILL it `delayMs` after batch `killAfter` is acknowledged. */
async function runAndKill(
  dir: string,
  sinkFile: string,
  first: number,
  killAfter: number,
  delayMs: number,
): Promise<{ lastAcked: number; signal: string | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(first), sinkFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastAcked = first - 1;
  let stderr = '';
  let buf = '';
  let killing = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = /^ok (\d+)$/.exec(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m) lastAcked = Number(m[1]);
      if (!killing && lastAcked >= killAfter) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    }
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const signal = await new Promise<string | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  clearTimeout(deadline);
  return { lastAcked, signal, stderr };
}

/** The sink file's deliveries by seq (runs of lines of one seq); a seq sent again must carry the same lines. */
function delivered(t: ExecutionContext, sinkFile: string): Map<number, string[]> {
  const runs: Array<{ seq: number; lines: string[] }> = [];
  if (existsSync(sinkFile)) {
    for (const line of readFileSync(sinkFile, 'utf8').split('\n').filter(Boolean)) {
      const seq = Number(line.slice(0, line.indexOf(' ')));
      if (runs.at(-1)?.seq !== seq) runs.push({ seq, lines: [] });
      runs.at(-1)!.lines.push(line);
    }
  }
  const bySeq = new Map<number, string[]>();
  for (const { seq, lines } of runs) {
    const first = bySeq.get(seq);
    if (first === undefined) bySeq.set(seq, lines);
    else t.deepEqual(lines, first, `resend of seq ${seq} is identical`);
  }
  return bySeq;
}

test('kill -9 while writing and forwarding: the sink resumes from its last ack and never misses a committed record', async (t) => {
  const dir = path.join(await tempDir(t, 'owl-store-fwd-crash-'), 'store');
  const sinkFile = `${dir}.sink`;
  let next = 0;
  let last = -1;
  for (let round = 0; round < 4; round++) {
    const killAfter = next + 5 + Math.floor(Math.random() * 40);
    const delayMs = Math.random() * 4;
    const run = await runAndKill(dir, sinkFile, next, killAfter, delayMs);
    const ctx = `round ${round}: kill ${delayMs.toFixed(2)} ms after batch ${killAfter}; stderr: ${run.stderr}`;
    t.is(run.signal, 'SIGKILL', ctx);

    const store = await openFwdStore(dir);
    try {
      last = Number((await store.getMeta('last'))?.toString());
      t.true(last >= run.lastAcked, ctx);
      const sent = delivered(t, sinkFile);
      const cursor = (await store.forwardStats())!.perSink[0]!.cursor;
      // Every record the sink acknowledged was delivered before the ack.
      for (let seq = 0; seq <= cursor; seq++)
        t.true(sent.has(seq), `${ctx}: seq ${seq} <= cursor ${cursor} delivered`);
      // What it reads now starts right after the cursor and runs to the last commit, without a gap.
      const rest = await readAll(store, 'file', 50);
      const seqs = rest.map((r) => r.seq);
      t.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => cursor + 1 + i),
        ctx,
      );
      // Delivered or still to send: every point of every committed batch.
      const values = new Set<number>();
      for (const lines of sent.values()) for (const l of lines) values.add(Number(l.split(' ')[4]));
      for (const r of rest) for (const p of r.points) values.add(p.value);
      for (let b = 0; b <= last; b++)
        for (let s = 0; s < FWD_CRASH.series; s++)
          t.true(values.has(b * 1000 + s), `${ctx}: batch ${b} series ${s}`);
      next = last + 1;
    } finally {
      await store.close();
    }
  }
  // Deliver the rest; then the sink holds every batch, each point with its own series and time.
  const store = await openFwdStore(dir);
  try {
    while (await forwardOnce(store, sinkFile));
    const seen = new Map<number, string>();
    for (const lines of delivered(t, sinkFile).values())
      for (const l of lines) {
        const [, metric, s, ts, v] = l.split(' ');
        seen.set(Number(v), `${metric} ${s} ${ts}`);
      }
    t.is(seen.size, (last + 1) * FWD_CRASH.series);
    for (let b = 0; b <= last; b++)
      for (let s = 0; s < FWD_CRASH.series; s++)
        t.is(seen.get(b * 1000 + s), `fwd ${s} ${FWD_CRASH.t0 + b * 10_000}`);
    t.deepEqual((await store.stats()).points, (last + 1) * FWD_CRASH.series);
  } finally {
    await store.close();
  }
  t.deepEqual(await logSeqsOnDisk(dir), [], 'all forwarded and folded: nothing left');
});
