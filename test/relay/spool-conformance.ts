/**
 * The Spool conformance suite, written once and run against every Spool
 * implementation (see spool.test.ts). A harness opens spools on one
 * underlying store; durable harnesses must return the same data on reopen.
 */
import { randomBytes } from 'node:crypto';
import type { TestFn, ExecutionContext } from 'ava';
import {
  recordBytes,
  SpoolErrorCode,
  type Spool,
  type SpoolPolicy,
  type SpoolRecord,
} from '../../relay/index.js';

export interface SpoolOpenOptions {
  maxBytes?: number;
  maxAgeMs?: number;
  policy?: SpoolPolicy;
  now?: () => number;
}

export interface SpoolHarness {
  /** Open a spool on the harness's store (again, after close, for durable ones). */
  open(options?: SpoolOpenOptions): Promise<Spool>;
  /** True when data survives close and reopen. */
  durable: boolean;
  cleanup(): Promise<void>;
}

export type SpoolHarnessFactory = () => Promise<SpoolHarness>;

/** A cap every implementation accepts (RocksSpool needs at least 1 MiB). */
const CAP = 1 << 20;

/** A fake clock tests move by hand. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Deterministic record content for a seq-independent index. */
function recordFor(i: number, size = 24): SpoolRecord {
  const payload = Buffer.alloc(size);
  payload.write(`rec-${i}-`, 'latin1');
  for (let j = 12; j < size; j++) payload[j] = (i * 31 + j) & 0xff;
  return { payload, samples: (i % 7) + 1 };
}

async function readAll(spool: Spool, from = 0) {
  const out = [];
  for (let next = from; ;) {
    const batch = await spool.read(next, { maxRecords: 500 });
    if (batch.length === 0) return out;
    out.push(...batch);
    next = batch[batch.length - 1]!.seq + 1;
  }
}

export function spoolConformance(test: TestFn, name: string, factory: SpoolHarnessFactory): void {
  async function withSpool(
    t: ExecutionContext,
    options: SpoolOpenOptions,
    body: (spool: Spool, h: SpoolHarness) => Promise<void>,
  ): Promise<void> {
    const h = await factory();
    let spool: Spool | undefined;
    try {
      spool = await h.open(options);
      await body(spool, h);
    } finally {
      await spool?.close().catch(() => undefined);
      await h.cleanup();
    }
    void t;
  }

  test(`${name}: concurrent appends get consecutive seqs in call order; read returns them in order`, async (t) => {
    const clock = fakeClock();
    await withSpool(t, { now: clock.now }, async (spool) => {
      t.is(spool.nextSeq(), 1);
      t.is(spool.firstSeq(), 1);
      const calls: SpoolRecord[][] = [];
      for (let i = 0; i < 60; i++)
        calls.push(Array.from({ length: (i % 3) + 1 }, (_, j) => recordFor(i * 10 + j)));
      const ranges = await Promise.all(calls.map((records) => spool.append(records)));
      let expect = 1;
      ranges.forEach((r, i) => {
        t.is(r.first, expect, `call ${i} starts where the previous ended`);
        t.is(r.last - r.first + 1, calls[i]!.length);
        expect = r.last + 1;
      });
      t.is(spool.nextSeq(), expect);
      const all = await readAll(spool);
      const flat = calls.flat();
      t.is(all.length, flat.length);
      all.forEach((e, i) => {
        t.is(e.seq, i + 1);
        t.deepEqual(e.payload, flat[i]!.payload);
        t.is(e.samples, flat[i]!.samples);
        t.is(e.receivedAt, clock.now());
      });
      const s = spool.stats();
      t.is(s.records, flat.length);
      t.is(s.appendedRecords, flat.length);
      t.is(
        s.samples,
        flat.reduce((a, r) => a + r.samples, 0),
      );
      t.is(s.appendedSamples, s.samples);
      t.is(
        s.bytes,
        flat.reduce((a, r) => a + recordBytes(r.payload.length), 0),
      );
    });
  });

  test(`${name}: an empty append gets an empty range; bad records are refused with a code`, async (t) => {
    await withSpool(t, {}, async (spool) => {
      await spool.append([recordFor(1)]);
      t.deepEqual(await spool.append([]), { first: 2, last: 1 });
      const bad = [
        [{ payload: 'text', samples: 1 }],
        [{ payload: Buffer.from('x'), samples: -1 }],
        [{ payload: Buffer.from('x'), samples: 1.5 }],
      ] as unknown as SpoolRecord[][];
      for (const records of bad) {
        const err = await t.throwsAsync(spool.append(records));
        t.is((err as { code?: string }).code, SpoolErrorCode.BAD_RECORD);
      }
      t.is(spool.nextSeq(), 2);
    });
  });

  test(`${name}: read honours fromSeq, maxRecords and maxBytes and always makes progress`, async (t) => {
    await withSpool(t, {}, async (spool) => {
      await spool.append(Array.from({ length: 50 }, (_, i) => recordFor(i, 100)));
      t.deepEqual(
        (await spool.read(1, { maxRecords: 7 })).map((e) => e.seq),
        [1, 2, 3, 4, 5, 6, 7],
      );
      t.deepEqual(
        (await spool.read(10, { maxBytes: 250 })).map((e) => e.seq),
        [10, 11, 12],
      );
      t.deepEqual(
        (await spool.read(20, { maxBytes: 1 })).map((e) => e.seq),
        [20],
        'one entry even when it exceeds maxBytes',
      );
      t.deepEqual(await spool.read(51), []);
      t.deepEqual(await spool.read(1000), []);
      await spool.release(20, 29);
      t.deepEqual(
        (await spool.read(15, { maxRecords: 8 })).map((e) => e.seq),
        [15, 16, 17, 18, 19, 30, 31, 32],
      );
      t.deepEqual(
        (await spool.read(22, { maxRecords: 2 })).map((e) => e.seq),
        [30, 31],
        'starts at the first existing seq >= fromSeq',
      );
    });
  });

  test(`${name}: releases in any order, repeated or beyond the data, leave exactly the rest`, async (t) => {
    const clock = fakeClock();
    await withSpool(t, { now: clock.now }, async (spool) => {
      const records = Array.from({ length: 100 }, (_, i) => recordFor(i));
      await spool.append(records.slice(0, 50));
      clock.advance(10);
      await spool.append(records.slice(50));
      const live = new Set(records.map((_, i) => i + 1));
      const release = async (a: number, b: number) => {
        await spool.release(a, b);
        for (let s = a; s <= b; s++) live.delete(s);
      };
      await release(51, 100); // fresh data acknowledged before the backlog
      t.is(spool.firstSeq(), 1);
      await release(1, 10);
      t.is(spool.firstSeq(), 11);
      await release(20, 30);
      await release(1, 10); // again: harmless
      await release(95, 500); // already gone and beyond the end
      await release(0, 0);
      await Promise.all([release(12, 12), release(40, 45), release(11, 11), release(14, 13)]);
      t.is(spool.firstSeq(), 13);
      const all = await readAll(spool);
      t.deepEqual(
        all.map((e) => e.seq),
        [...live].sort((a, b) => a - b),
      );
      for (const e of all) t.deepEqual(e.payload, records[e.seq - 1]!.payload);
      const s = spool.stats();
      const kept = [...live].map((seq) => records[seq - 1]!);
      t.is(s.records, kept.length);
      t.is(
        s.samples,
        kept.reduce((a, r) => a + r.samples, 0),
      );
      t.is(
        s.bytes,
        kept.reduce((a, r) => a + recordBytes(r.payload.length), 0),
      );
      t.is(s.appendedRecords, 100);
      t.is(s.droppedRecords, 0);
      t.is(s.oldestReceivedAt, clock.now() - 10);
      await release(1, 100);
      t.is(spool.stats().records, 0);
      t.is(spool.firstSeq(), 101);
      t.is(spool.nextSeq(), 101);
      t.is(spool.stats().oldestReceivedAt, undefined);
      t.deepEqual(await spool.append([recordFor(7)]), { first: 101, last: 101 }, 'seqs are never reused');
    });
  });

  test(`${name}: release() resolves with exactly what it removed, not what was released or dropped before`, async (t) => {
    // What the uplink relies on to tell records acknowledged after the spool dropped them (its
    // batch was in flight) from records really lost.
    const clock = fakeClock();
    await withSpool(t, { maxAgeMs: 1000, now: clock.now }, async (spool) => {
      const samplesOf = (seq: number) => ((seq * 7) % 13) + 1;
      const sum = (seqs: number[]) => seqs.reduce((a, seq) => a + samplesOf(seq), 0);
      const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
      const append = (a: number, b: number) =>
        spool.append(
          range(a, b).map((seq) => ({ payload: Buffer.from(`r${seq}`), samples: samplesOf(seq) })),
        );
      await append(1, 10);
      clock.advance(600);
      await append(11, 20);
      t.deepEqual(await spool.release(3, 5), { records: 3, samples: sum([3, 4, 5]) });
      t.deepEqual(await spool.release(4, 6), { records: 1, samples: sum([6]) }, 'only 6 was still there');
      t.deepEqual(await spool.release(3, 6), { records: 0, samples: 0 }, 'a repeat removes nothing');
      t.deepEqual(await spool.release(100, 200), { records: 0, samples: 0 }, 'beyond the data');
      t.deepEqual(await spool.release(9, 8), { records: 0, samples: 0 }, 'an empty range');
      clock.advance(500); // 1..10 are past the age cap
      await spool.sweep();
      t.is(spool.stats().droppedRecords, 6, '1, 2 and 7..10 dropped');
      // A batch over 1..12 was in flight: only 11 and 12 are still there to release.
      t.deepEqual(await spool.release(1, 12), { records: 2, samples: sum([11, 12]) });
      // Overlapping releases in one turn (one group commit): each record counted once, for the earliest.
      const results = await Promise.all([
        spool.release(14, 16),
        spool.release(13, 15),
        spool.release(15, 15),
        spool.release(17, 17),
      ]);
      t.deepEqual(results, [
        { records: 3, samples: sum([14, 15, 16]) },
        { records: 1, samples: sum([13]) },
        { records: 0, samples: 0 },
        { records: 1, samples: sum([17]) },
      ]);
      const s = spool.stats();
      t.is(s.records, 3);
      t.is(s.samples, sum([18, 19, 20]));
      t.deepEqual(await spool.release(0, 1000), { records: 3, samples: sum([18, 19, 20]) });
    });
  });

  test(`${name}: release() of a range partly dropped by the byte cap removes exactly the rest`, async (t) => {
    await withSpool(t, { maxBytes: CAP, policy: 'drop-oldest' }, async (spool) => {
      const size = 1000;
      const samplesOf = (seq: number) => (seq % 5) + 1;
      const append = async (count: number) => {
        const first = spool.nextSeq();
        await spool.append(
          Array.from({ length: count }, (_, i) => ({
            payload: randomBytes(size),
            samples: samplesOf(first + i),
          })),
        );
      };
      // A batch over 1..400 goes out (nothing is dropped yet); 350..360 of an earlier one were
      // acknowledged meanwhile.
      while (spool.nextSeq() <= 400) await append(20);
      t.is(spool.stats().droppedRecords, 0);
      const batch = { first: 1, last: 400 };
      await spool.release(350, 360);
      // Appends push the oldest records out while the batch is in flight (RocksSpool drops whole
      // segments of about 250 of these records, MemorySpool one record at a time).
      while (spool.firstSeq() <= 100) await append(20);
      const firstLive = spool.firstSeq();
      t.true(firstLive <= batch.last, `part of the batch is still spooled (firstSeq ${firstLive})`);
      const live = (await spool.read(batch.first, { maxRecords: 1000, maxBytes: 1 << 30 }))
        .map((e) => e.seq)
        .filter((seq) => seq <= batch.last);
      t.is(live[0], firstLive);
      const before = spool.stats();
      const removed = await spool.release(batch.first, batch.last);
      t.is(removed.records, live.length, 'the records of the range still spooled');
      t.is(
        removed.samples,
        live.reduce((a, seq) => a + samplesOf(seq), 0),
      );
      // The rest of the batch was dropped, and counted so: nothing else was dropped yet.
      t.is(before.droppedRecords, batch.last - batch.first + 1 - 11 - removed.records);
      let droppedSamples = 0;
      for (let seq = 1; seq < firstLive; seq++) droppedSamples += samplesOf(seq);
      t.is(before.droppedSamples, droppedSamples);
      t.is(spool.stats().droppedRecords, before.droppedRecords, 'a release drops nothing');
    });
  });

  test(`${name}: stats report the age of the oldest record from the injected clock`, async (t) => {
    const clock = fakeClock();
    await withSpool(t, { now: clock.now }, async (spool) => {
      t.is(spool.stats().ageMs, 0);
      await spool.append([recordFor(1)]);
      clock.advance(1234);
      await spool.append([recordFor(2)]);
      const s = spool.stats();
      t.is(s.oldestReceivedAt, clock.now() - 1234);
      t.is(s.ageMs, 1234);
      await spool.release(1, 1);
      t.is(spool.stats().ageMs, 0);
    });
  });

  test(`${name}: drop-oldest keeps the newest records within the cap and counts every drop`, async (t) => {
    await withSpool(t, { maxBytes: CAP, policy: 'drop-oldest' }, async (spool) => {
      const size = 1000;
      const n = Math.ceil((3 * CAP) / recordBytes(size));
      const payloads: Buffer[] = [];
      for (let i = 0; i < n; i += 20) {
        const batch = Array.from({ length: Math.min(20, n - i) }, (_, j) => ({
          payload: randomBytes(size),
          samples: ((i + j) % 5) + 1,
        }));
        for (const r of batch) payloads.push(r.payload);
        // Several appends in flight at once, as from many agents.
        await Promise.all(batch.map((r) => spool.append([r])));
      }
      const s = spool.stats();
      t.true(s.droppedRecords > 0, 'records were dropped');
      t.true(s.bytes <= CAP, `live bytes ${s.bytes} within the cap`);
      t.is(s.records + s.droppedRecords, n, 'every record is live or counted as dropped');
      t.is(s.rejectedRecords, 0);
      const all = await readAll(spool);
      t.is(all.length, s.records);
      // The survivors are the newest records, contiguous up to the last one.
      t.is(all[all.length - 1]!.seq, n);
      t.is(all[0]!.seq, n - all.length + 1);
      t.is(spool.firstSeq(), all[0]!.seq);
      for (const e of all) t.deepEqual(e.payload, payloads[e.seq - 1]);
      let droppedSamples = 0;
      for (let seq = 1; seq < all[0]!.seq; seq++) droppedSamples += ((seq - 1) % 5) + 1;
      t.is(s.droppedSamples, droppedSamples);
      t.is(s.samples + s.droppedSamples, s.appendedSamples);
    });
  });

  test(`${name}: drop-oldest: every appended record is read back, released or counted dropped, exactly`, async (t) => {
    // Concurrent groups of multi-record appends, records from 100 B to 96 KiB with known sample
    // counts, releases of the oldest records between groups (as acks would) and, for durable
    // spools, a reopen halfway. Checked by seq, not only by totals: the records dropped are
    // exactly those neither read back nor released, and all of them are below firstSeq(), which
    // is how the uplink knows not to send one it still holds in memory (spool-rocks.test.ts has
    // a group that drops its own first appends).
    const h = await factory();
    let spool: Spool | undefined;
    try {
      spool = await h.open({ maxBytes: CAP, policy: 'drop-oldest' });
      const sizes = [100, 3000, 96 << 10, 700, 20 << 10, 60 << 10, 1500];
      /** Index of the record (for its content) and its samples, by seq. */
      const appended = new Map<number, { i: number; samples: number }>();
      const released = new Set<number>();
      const sizeOf = new Map<number, number>();
      let n = 0;
      for (let round = 0; round < 32; round++) {
        // Three groups in every eight: ten appends of one 60 KiB record each.
        const burst = round % 8 >= 1 && round % 8 <= 3;
        const calls = Array.from({ length: burst ? 10 : 2 + (round % 5) }, (_, c) =>
          Array.from({ length: burst ? 1 : 1 + ((round + c) % 3) }, () => {
            const i = n++;
            const size = burst ? 60 << 10 : sizes[i % sizes.length]!;
            sizeOf.set(i, size);
            return { i, record: { ...recordFor(i, size), samples: (i % 11) * 13 + 1 } };
          }),
        );
        const ranges = await Promise.all(calls.map((call) => spool!.append(call.map((x) => x.record))));
        ranges.forEach((r, c) => {
          const call = calls[c]!;
          t.is(r.last - r.first + 1, call.length);
          call.forEach((x, k) => appended.set(r.first + k, { i: x.i, samples: x.record.samples }));
        });
        // What the uplink relies on: below firstSeq() every record is released or dropped; from it
        // on, every record not released is still there.
        const first = spool.firstSeq();
        const expected = [...appended.keys()].filter((seq) => seq >= first && !released.has(seq));
        t.deepEqual(
          (await readAll(spool)).map((e) => e.seq),
          expected,
          `round ${round}: the live records are those at or above firstSeq ${first}`,
        );
        if (round % 4 === 3) {
          // The upstream acknowledged the two oldest live records.
          for (const e of await spool.read(0, { maxRecords: 2 })) {
            await spool.release(e.seq, e.seq);
            released.add(e.seq);
          }
        }
        if (h.durable && round === 16) {
          await spool.close();
          spool = await h.open({ maxBytes: CAP, policy: 'drop-oldest' });
        }
      }

      const all = await readAll(spool);
      const s = spool.stats();
      const sum = (seqs: Iterable<number>) => [...seqs].reduce((a, seq) => a + appended.get(seq)!.samples, 0);
      for (const e of all) {
        const a = appended.get(e.seq)!;
        t.is(e.samples, a.samples);
        if (!e.payload.equals(recordFor(a.i, sizeOf.get(a.i)).payload)) t.fail(`seq ${e.seq}: payload`);
      }
      const live = new Set(all.map((e) => e.seq));
      const dropped = [...appended.keys()].filter((seq) => !live.has(seq) && !released.has(seq));
      t.true(dropped.length > 0, 'records were dropped');
      t.true(
        dropped.every((seq) => seq < spool!.firstSeq()),
        'every dropped record is below firstSeq()',
      );
      t.is(s.appendedRecords, appended.size);
      t.is(s.appendedSamples, sum(appended.keys()));
      t.is(s.records, all.length);
      t.is(s.samples, sum(live));
      t.is(
        s.droppedRecords,
        dropped.length,
        'droppedRecords: exactly the records neither read back nor released',
      );
      t.is(s.droppedSamples, sum(dropped), 'droppedSamples: exactly their samples');
      t.is(s.records + released.size + s.droppedRecords, s.appendedRecords);
      t.is(s.samples + sum(released) + s.droppedSamples, s.appendedSamples);
    } finally {
      await spool?.close().catch(() => undefined);
      await h.cleanup();
    }
  });

  test(`${name}: reject-new refuses appends with a retriable OWL_ERR_SPOOL_FULL and drops nothing`, async (t) => {
    await withSpool(t, { maxBytes: CAP, policy: 'reject-new' }, async (spool) => {
      const size = 1000;
      let accepted = 0;
      let full: unknown;
      for (let i = 0; i < (4 * CAP) / size && !full; i++) {
        try {
          await spool.append([{ payload: randomBytes(size), samples: 2 }]);
          accepted++;
        } catch (err) {
          full = err;
        }
      }
      t.truthy(full, 'the spool filled up');
      t.is((full as { code?: string }).code, SpoolErrorCode.FULL);
      t.true((full as { retriable?: boolean }).retriable);
      t.true(accepted > 0);
      const s = spool.stats();
      t.is(s.droppedRecords, 0);
      t.is(s.records, accepted);
      t.true(s.rejectedRecords >= 1);
      t.is((await readAll(spool)).length, accepted);
      await t.throwsAsync(spool.append([{ payload: randomBytes(size), samples: 1 }]), {
        code: SpoolErrorCode.FULL,
      });
      // Draining makes room again.
      await spool.release(1, spool.nextSeq());
      const r = await spool.append([{ payload: randomBytes(size), samples: 1 }]);
      t.is(r.first, accepted + 1, 'a refused append consumes no seq');
    });
  });

  test(`${name}: the age cap drops (and counts) records older than maxAgeMs`, async (t) => {
    const clock = fakeClock();
    await withSpool(t, { maxAgeMs: 1000, now: clock.now }, async (spool) => {
      await spool.append(
        Array.from({ length: 10 }, (_, i) => ({ payload: Buffer.from(`old${i}`), samples: 2 })),
      );
      clock.advance(600);
      await spool.append(
        Array.from({ length: 5 }, (_, i) => ({ payload: Buffer.from(`mid${i}`), samples: 3 })),
      );
      clock.advance(500); // the first ten are now 1100 ms old, the next five 500 ms
      await spool.sweep();
      let s = spool.stats();
      t.is(s.droppedRecords, 10);
      t.is(s.droppedSamples, 20);
      t.is(s.records, 5);
      t.is(spool.firstSeq(), 11);
      t.deepEqual(
        (await readAll(spool)).map((e) => e.payload.toString()),
        ['mid0', 'mid1', 'mid2', 'mid3', 'mid4'],
      );
      // Appending also applies the cap once the clock has moved on.
      clock.advance(1500);
      const r = await spool.append([{ payload: Buffer.from('new'), samples: 1 }]);
      s = spool.stats();
      t.is(s.droppedRecords, 15);
      t.is(s.droppedSamples, 35);
      t.is(s.records, 1);
      t.is(spool.firstSeq(), r.first);
    });
  });

  test(`${name}: close waits for pending appends and releases, then refuses work`, async (t) => {
    const h = await factory();
    try {
      const spool = await h.open();
      await spool.append(Array.from({ length: 10 }, (_, i) => recordFor(i)));
      const appends = Array.from({ length: 40 }, (_, i) => spool.append([recordFor(100 + i)]));
      const release = spool.release(1, 5);
      const settled = Promise.allSettled([...appends, release]);
      await spool.close();
      const results = await settled;
      t.true(
        results.every((r) => r.status === 'fulfilled'),
        'everything submitted before close() completed',
      );
      await t.throwsAsync(spool.append([recordFor(1)]), { code: SpoolErrorCode.CLOSED });
      await t.throwsAsync(spool.read(1), { code: SpoolErrorCode.CLOSED });
      await t.notThrowsAsync(spool.close(), 'close twice is harmless');
      if (h.durable) {
        const again = await h.open();
        try {
          const all = await readAll(again);
          t.is(all.length, 45);
          t.is(all[0]!.seq, 6);
          t.is(again.nextSeq(), 51);
        } finally {
          await again.close();
        }
      }
    } finally {
      await h.cleanup();
    }
  });

  test(`${name}: a reopen keeps everything (records, counters, seqs, id)`, async (t) => {
    const h = await factory();
    if (!h.durable) {
      await h.cleanup();
      t.pass('not a durable spool');
      return;
    }
    const clock = fakeClock();
    try {
      let spool = await h.open({ now: clock.now, maxAgeMs: 1000 });
      const records = Array.from({ length: 30 }, (_, i) => recordFor(i));
      await spool.append(records.slice(0, 10));
      clock.advance(2000);
      await spool.append(records.slice(10));
      await spool.sweep(); // drops the first 10 by age
      await spool.release(25, 27);
      const before = spool.stats();
      t.is(before.droppedRecords, 10);
      await spool.close();
      spool = await h.open({ now: clock.now, maxAgeMs: 1000 });
      const after = spool.stats();
      for (const k of [
        'spoolId',
        'records',
        'samples',
        'bytes',
        'firstSeq',
        'nextSeq',
        'oldestReceivedAt',
        'appendedRecords',
        'appendedSamples',
        'droppedRecords',
        'droppedSamples',
      ] as const) {
        t.deepEqual(after[k], before[k], k);
      }
      t.is(spool.spoolId, before.spoolId);
      const all = await readAll(spool);
      t.deepEqual(
        all.map((e) => e.seq),
        [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 28, 29, 30],
      );
      for (const e of all) t.deepEqual(e.payload, records[e.seq - 1]!.payload);
      t.deepEqual(await spool.append([recordFor(99)]), { first: 31, last: 31 });
      await spool.close();
    } finally {
      await h.cleanup();
    }
  });
}
