import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RocksSampleStore } from '../../upstream/index.js';
import { CRASH, expectedValue } from './store-crash-child.js';

const CHILD = fileURLToPath(new URL('./store-crash-child.ts', import.meta.url));

/** Run the child from batch `first`; SIGKILL it `delayMs` after batch `killAfter` is acknowledged. */
async function runAndKill(
  dir: string,
  first: number,
  killAfter: number,
  delayMs: number,
): Promise<{ lastAcked: number; signal: string | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(first)], {
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
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = /^ok (\d+)$/.exec(line);
      if (m) lastAcked = Number(m[1]);
      if (!killing && lastAcked >= killAfter) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    }
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const signal = await new Promise<string | null>((resolve) =>
    child.on('exit', (_code, sig) => resolve(sig)),
  );
  clearTimeout(deadline);
  return { lastAcked, signal, stderr };
}

test('kill -9 at random moments: every acknowledged batch is whole and the meta record matches the data exactly', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'owl-store-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let next = 0;
  let replayed = 0;
  for (let round = 0; round < 4; round++) {
    const killAfter = next + 2 + Math.floor(Math.random() * 30);
    const delayMs = Math.random() * 4;
    const run = await runAndKill(dir, next, killAfter, delayMs);
    const ctx = `round ${round}: from ${next}, kill ${delayMs.toFixed(2)} ms after batch ${killAfter}; stderr: ${run.stderr}`;
    t.is(run.signal, 'SIGKILL', ctx);
    t.true(run.lastAcked >= killAfter, ctx);

    const store = await RocksSampleStore.open({ location: dir });
    try {
      replayed += store.counters().pendingPoints;
      const last = Number((await store.getMeta('last'))?.toString());
      // Every acknowledged batch is there; at most the one in flight got in too.
      t.true(last >= run.lastAcked, `${ctx}; meta says ${last}, acked ${run.lastAcked}`);
      const series = await store.query({ metric: 'crash', fromMs: 0, toMs: CRASH.t0 + 1e9 });
      t.is(series.length, CRASH.series, ctx);
      for (const s of series) {
        const id = Number(s.tags.s);
        const wantTs = Array.from({ length: last + 1 }, (_, b) => CRASH.t0 + b * 10_000);
        const wantVals = wantTs.map((_, b) => expectedValue(b, id, last));
        t.deepEqual(s.timestampsMs, wantTs, `${ctx}; series ${id}`);
        t.deepEqual(s.values, wantVals, `${ctx}; series ${id}`);
      }
      t.deepEqual(
        await store.stats(),
        { series: CRASH.series, points: CRASH.series * (last + 1), samples: 0 },
        ctx,
      );
      next = last + 1;
    } finally {
      await store.close();
    }
  }
  // The child never closes its store: reopening must have replayed log records.
  t.true(replayed > 0);
});
