/**
 * What is specific to WorkerSpool (the Spool semantics are in the conformance
 * suite, spool.test.ts): the main event loop keeps turning while RocksDB
 * commits, errors keep their codes across the thread boundary, a dead worker
 * fails every call with OWL_ERR_SPOOL_IO, buffers cross both ways intact.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { OwlError } from '../../protocol/index.js';
import {
  openRocksSpool,
  WorkerSpool,
  SpoolError,
  SpoolErrorCode,
  type Spool,
  type SpoolLogger,
} from '../../relay/index.js';
import { WakeSignal } from '../helpers/wake-signal.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-wspool-'));
  try {
    await body(path.join(root, 'spool'));
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
}

function code(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

/**
 * `rounds` group commits of `k` appends of `size` bytes each; for each, how
 * long a setImmediate queued right after the appends waits to run. RocksSpool
 * on this thread writes the batch (fdatasync included) in a setImmediate
 * queued first, so the wait is the commit; WorkerSpool only posts a message.
 */
async function turnLags(spool: Spool, rounds: number, k: number, size: number): Promise<number[]> {
  const payload = Buffer.alloc(size, 0x5a);
  const lags: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const appends = Array.from({ length: k }, () => spool.append([{ payload, samples: 1 }]));
    const t0 = performance.now();
    await new Promise((resolve) => setImmediate(resolve));
    lags.push(performance.now() - t0);
    await Promise.all(appends);
  }
  return lags.sort((a, b) => a - b);
}

test.serial(
  'the main event loop keeps turning while the worker commits (RocksSpool on this thread does not)',
  async (t) => {
    const rounds = 63;
    const k = 32;
    const size = 16 << 10;
    const lags: Record<string, number[]> = {};
    for (const [name, open] of [
      ['RocksSpool', openRocksSpool],
      ['WorkerSpool', WorkerSpool.open],
    ] as const) {
      await withDir(async (dir) => {
        const spool = await open({ dir, maxBytes: 1 << 30 });
        try {
          await turnLags(spool, 3, k, size); // warm-up: first segment files, JIT
          lags[name] = await turnLags(spool, rounds, k, size);
          t.is(spool.stats().records, (rounds + 3) * k, `${name}: every append landed`);
        } finally {
          await spool.close();
        }
      });
    }
    const median = (xs: number[]) => xs[xs.length >> 1]!;
    const max = (xs: number[]) => xs[xs.length - 1]!;
    const rocks = lags.RocksSpool!;
    const worker = lags.WorkerSpool!;
    t.log(
      `event-loop lag over ${rounds} group commits of ${k} x ${size} B (median / max ms):`,
      `RocksSpool ${median(rocks).toFixed(3)} / ${max(rocks).toFixed(2)},`,
      `WorkerSpool ${median(worker).toFixed(3)} / ${max(worker).toFixed(2)}`,
    );
    // The median, not the max: on a loaded machine the longest lag of either is
    // the scheduler's (a descheduled thread), not the spool's.
    t.true(median(worker) < median(rocks), 'the worker keeps synced batch writes off this thread');
  },
);

test('error codes and the retriable flag cross the thread boundary', async (t) => {
  await withDir(async (dir) => {
    let spool = await WorkerSpool.open({ dir, maxBytes: 1 << 20 });
    try {
      // Refused on this side (only Buffers can be posted) and in the worker.
      const bad = await t.throwsAsync(spool.append([{ payload: 'x', samples: 1 }] as never));
      t.is(code(bad), SpoolErrorCode.BAD_RECORD);
      t.true(bad instanceof SpoolError);
      const tooLarge = await t.throwsAsync(spool.append([{ payload: Buffer.alloc(2 << 20), samples: 1 }]));
      t.is(code(tooLarge), SpoolErrorCode.RECORD_TOO_LARGE);
      t.true(tooLarge instanceof SpoolError && tooLarge instanceof OwlError);
      t.false((tooLarge as SpoolError).retriable);
      await t.throwsAsync(spool.read(Number.NaN), { instanceOf: RangeError });
      await t.throwsAsync(spool.release(1.5, 2), { instanceOf: RangeError });
    } finally {
      await spool.close();
    }

    spool = await WorkerSpool.open({ dir, maxBytes: 1 << 20, policy: 'reject-new' });
    try {
      let full: unknown;
      for (let i = 0; i < 1000 && full === undefined; i++) {
        await spool.append([{ payload: Buffer.alloc(8 << 10, i), samples: 1 }]).catch((err: unknown) => {
          full = err;
        });
      }
      t.is(code(full), SpoolErrorCode.FULL);
      t.true(full instanceof SpoolError);
      t.true((full as SpoolError).retriable, 'a full spool may drain: retry later');
      t.true(spool.stats().rejectedRecords >= 1, 'the snapshot sent with the error counts the refusal');
    } finally {
      await spool.close();
    }
  });
});

test('a second open of the same spool fails with OWL_ERR_SPOOL_LOCKED; after close it opens', async (t) => {
  await withDir(async (dir) => {
    const first = await WorkerSpool.open({ dir });
    try {
      await first.append([{ payload: Buffer.from('one'), samples: 1 }]);
      const err = await t.throwsAsync(WorkerSpool.open({ dir }));
      t.is(code(err), SpoolErrorCode.LOCKED);
      t.true(err instanceof SpoolError);
      await t.throwsAsync(openRocksSpool({ dir }), { code: SpoolErrorCode.LOCKED });
    } finally {
      await first.close();
    }
    const again = await WorkerSpool.open({ dir });
    t.is(again.stats().records, 1, 'close released the lock');
    await again.close();
  });
});

test('a killed worker fails pending and later calls with a retriable OWL_ERR_SPOOL_IO; the spool reopens', async (t) => {
  await withDir(async (dir) => {
    const errors: object[] = [];
    const logger: SpoolLogger = {
      info: () => undefined,
      warn: () => undefined,
      error: (obj) => errors.push(obj),
    };
    const spool = await WorkerSpool.open({ dir, logger });
    const acked = await spool.append([{ payload: Buffer.from('durable'), samples: 1 }]);
    const record = (i: number) => [{ payload: Buffer.from(`p${i}`), samples: 1 }];
    // Posted to the worker, which may be writing them when it dies ...
    const sent: Promise<unknown>[] = Array.from({ length: 50 }, (_, i) => spool.append(record(i)));
    sent.push(spool.read(1), spool.diskBytes());
    await new Promise((resolve) => setImmediate(resolve));
    // ... and made in the turn it dies, not yet posted.
    const unsent: Promise<unknown>[] = Array.from({ length: 10 }, (_, i) => spool.append(record(100 + i)));
    unsent.push(spool.release(1, 1));
    void spool.killWorkerForTest();
    const results = await Promise.allSettled([...sent, ...unsent]);
    for (const r of results.slice(sent.length)) t.is(r.status, 'rejected');
    for (const r of results) {
      if (r.status === 'fulfilled') continue; // the worker answered before it was stopped
      t.is(code(r.reason), SpoolErrorCode.IO);
      t.true((r.reason as SpoolError).retriable);
    }
    for (const call of [
      () => spool.append([{ payload: Buffer.from('late'), samples: 1 }]),
      () => spool.read(1),
      () => spool.release(1, 2),
      () => spool.sweep(),
      () => spool.diskBytes(),
    ]) {
      await t.throwsAsync(call(), { code: SpoolErrorCode.IO });
    }
    t.is(errors.length, 1, 'the failure was logged once');
    t.is(spool.stats().nextSeq >= acked.last + 1, true, 'stats still answer from the last snapshot');
    await t.notThrowsAsync(spool.close());
    await t.throwsAsync(spool.append([]), { code: SpoolErrorCode.CLOSED });

    // The spool reopens (the dead worker's handles are gone) with every acknowledged append.
    const again = await WorkerSpool.open({ dir });
    try {
      const seqs = new Set((await again.read(0)).map((e) => e.seq));
      t.true(seqs.has(acked.first));
      for (const r of results.slice(0, 50)) {
        if (r.status === 'fulfilled') t.true(seqs.has((r.value as { first: number }).first));
      }
    } finally {
      await again.close();
    }
  });
});

test('data survives close and reopen, in a worker or on this thread', async (t) => {
  await withDir(async (dir) => {
    const records = Array.from({ length: 200 }, (_, i) => ({
      payload: Buffer.alloc(100 + i * 37, i),
      samples: (i % 5) + 1,
    }));
    let spool: Spool = await WorkerSpool.open({ dir });
    await Promise.all(records.map((r) => spool.append([r])));
    await spool.release(1, 10);
    const id = spool.spoolId;
    await spool.close();
    for (const open of [WorkerSpool.open, openRocksSpool, WorkerSpool.open]) {
      spool = await open({ dir });
      try {
        t.is(spool.spoolId, id);
        t.is(spool.firstSeq(), 11);
        t.is(spool.nextSeq(), 201);
        const got = await spool.read(0, { maxRecords: 1000, maxBytes: 1 << 30 });
        t.deepEqual(
          got.map((e) => e.seq),
          records.slice(10).map((_, i) => i + 11),
        );
        for (const e of got) {
          t.deepEqual(e.payload, records[e.seq - 1]!.payload);
          t.is(e.samples, records[e.seq - 1]!.samples);
        }
      } finally {
        await spool.close();
      }
    }
  });
});

test('buffers cross intact: callers keep what they append, reads own what they get', async (t) => {
  await withDir(async (dir) => {
    const spool = await WorkerSpool.open({ dir });
    try {
      const big = Buffer.alloc(64 << 10);
      for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
      const pooled = Buffer.from('small, from the shared pool');
      const slice = big.subarray(1000, 5000);
      const empty = Buffer.alloc(0);
      const r = await spool.append([
        { payload: pooled, samples: 1 },
        { payload: slice, samples: 2 },
        { payload: empty, samples: 0 },
        { payload: big, samples: 3 },
      ]);
      t.deepEqual(r, { first: 1, last: 4 });
      t.is(pooled.toString(), 'small, from the shared pool', 'the caller keeps its buffers');
      t.is(big.length, 64 << 10);
      t.is(big[4999], 4999 & 0xff);
      const got = await spool.read(1);
      t.deepEqual(
        got.map((e) => [e.seq, e.samples]),
        [
          [1, 1],
          [2, 2],
          [3, 0],
          [4, 3],
        ],
      );
      t.true(got[0]!.payload.equals(pooled));
      t.true(got[1]!.payload.equals(slice));
      t.is(got[2]!.payload.length, 0);
      t.true(got[3]!.payload.equals(big));
      t.true(Buffer.isBuffer(got[3]!.payload));
      // Each payload came over in a buffer of its own: nothing else is kept alive with it.
      for (const e of got) t.true(e.payload.buffer.byteLength <= e.payload.length + 64);
    } finally {
      await spool.close();
    }
  });
});

test('the age cap runs from this thread with its clock, and the worker logs reach this logger', async (t) => {
  await withDir(async (dir) => {
    let now = 1_700_000_000_000;
    const lines: Array<[string, object, string | undefined]> = [];
    const wake = new WakeSignal();
    const logger: SpoolLogger = {
      info: (obj, msg) => lines.push(['info', obj, msg]),
      warn: (obj, msg) => (lines.push(['warn', obj, msg]), wake.wake()),
      error: (obj, msg) => lines.push(['error', obj, msg]),
    };
    const spool = await WorkerSpool.open({
      dir,
      maxAgeMs: 1000,
      sweepIntervalMs: 20,
      now: () => now,
      logger,
    });
    try {
      t.true(
        lines.some(([level, obj, msg]) => level === 'info' && msg === 'spool opened' && 'spoolId' in obj),
        'the open was logged through this side',
      );
      await spool.append([{ payload: Buffer.from('old'), samples: 4 }]);
      now += 600;
      t.is(spool.stats().ageMs, 600, "age from this side's clock");
      now += 600; // 1200 ms old now; no call is made: the timer must sweep it
      const deadline = Date.now() + 10_000;
      while (spool.stats().droppedRecords === 0 && Date.now() < deadline) await wake.sleep(50);
      t.is(spool.stats().droppedRecords, 1);
      t.is(spool.stats().droppedSamples, 4);
      t.is(spool.stats().records, 0);
      t.true(lines.some(([level, obj]) => level === 'warn' && (obj as { records?: number }).records === 1));
    } finally {
      await spool.close();
    }
  });
});
