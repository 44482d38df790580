/**
 * One group commit (rocks-store.ts): ONE synced RocksDB batch holding the
 * dictionary entries of series never seen, the counters they change, one log
 * record with every point of the group, and the writes' meta ops in call
 * order. Atomic in RocksDB's WAL, so after kill -9 or power loss a write is
 * either entirely there or not at all. Only once the batch is durable does
 * the store's state move on (new ids, pending points) and the writes resolve.
 */
import type { ChainedBatch } from '@nxtedition/rocksdb';
import { closeQuietly } from './db.js';
import { StoreError, StoreErrorCode, ioError } from './errors.js';
import type { AdmitPlan, ForwardLog } from './forward-log.js';
import { K_NEXT_ID, K_SERIES, TWO_32, cursorKey, encodeU64, idKey, logKey, seriesDictKey } from './keys.js';
import { beginLogRecord, pushLogPoint } from './log-codec.js';
import { addMetaOps } from './meta.js';
import { SEP } from './series-key.js';
import type { StoreState } from './store-state.js';
import type { StorePoint } from './types.js';
import type { WriteTask } from './write-task.js';

type Batch = ChainedBatch<Buffer, Buffer>;

/** A series the id cache did not know, by series key; `id` is filled in by assignIds. */
type Missed = Map<string, { metric: string; suffix: string; id: number }>;

/** Commit `group` and settle its writes: all resolve, or all reject with the (retriable) I/O error. */
export async function commitGroup(
  s: StoreState,
  group: WriteTask[],
  notePending: () => void,
  nowMs: () => number,
): Promise<void> {
  try {
    await writeGroup(s, group, notePending, nowMs);
  } catch (err) {
    const e = ioError(err);
    if (e.code === StoreErrorCode.FORWARD_FULL && s.fw !== undefined) s.fw.rejectedWrites += group.length;
    for (const t of group) t.reject(e);
    return;
  }
  for (const t of group) t.resolve();
}

async function writeGroup(
  s: StoreState,
  group: WriteTask[],
  notePending: () => void,
  nowMs: () => number,
): Promise<void> {
  const { missed, total } = collectMisses(s, group);
  const batch = s.db.batch();
  try {
    let ids = { nextId: s.nextId, created: 0 };
    if (missed.size > 0) {
      ids = await assignIds(s, batch, missed);
      fillMissedIds(group, missed);
    }
    const seq = s.nextSeq;
    let drop: AdmitPlan | undefined;
    let recordBytes = 0;
    if (total > 0) {
      encodeLogRecord(s, group, total);
      recordBytes = s.logWriter.pos;
      // Before anything is written: reject-new refuses the whole group here.
      if (s.fw !== undefined) drop = planDrop(s.fw, batch, recordBytes);
      // put() copies into the native batch, so the writer can be reused.
      batch.put(logKey(seq), s.logWriter.view());
    }
    for (const task of group) addMetaOps(batch, task.meta);
    await batch.write({ sync: true });

    // Durable: publish.
    s.nextId = ids.nextId;
    s.seriesCount += ids.created;
    for (const m of missed.values()) s.ids.set(m.suffix, m.metric, m.id);
    if (total > 0) {
      if (drop !== undefined) s.fw?.applyDrop(drop);
      s.fw?.index.push(seq, recordBytes, total, nowMs(), !s.keepSamples);
      if (s.keepSamples) {
        publishPoints(s, group, seq);
        notePending();
      } else {
        s.nextSeq = seq + 1;
      }
    }
  } finally {
    // A written batch is closed by write(); this covers the failure paths.
    await closeQuietly(batch);
  }
}

/**
 * Room in the forwarding log for a record of `bytes` (forward-log.ts): under drop-oldest, the
 * slow sinks' cursors move past the oldest records and the folded ones among them go, in this
 * same synced batch, so drops and the record that caused them are durable together.
 */
function planDrop(fw: ForwardLog, batch: Batch, bytes: number): AdmitPlan | undefined {
  const plan = fw.admit(bytes);
  if (plan === undefined) return undefined;
  const value = encodeU64(plan.dropTo);
  for (const name of fw.sinksBelow(plan.dropTo)) batch.put(cursorKey(name), value);
  for (const seq of plan.deletes) batch.del(logKey(seq));
  return plan;
}

/**
 * The series whose ids the cache did not give at write() (or gave before
 * retention removed series: those writes look theirs up again), and the
 * group's point count.
 */
function collectMisses(s: StoreState, group: WriteTask[]): { missed: Missed; total: number } {
  const missed: Missed = new Map();
  let total = 0;
  for (const task of group) {
    const { points, suffixes, ids } = task;
    total += points.length;
    if (task.epoch !== s.epoch) {
      for (let i = 0; i < points.length; i++) {
        ids[i] = s.ids.get(suffixes[i] as string, (points[i] as StorePoint).metric) ?? 0;
      }
      task.epoch = s.epoch;
      task.misses = ids.indexOf(0) === -1 ? 0 : 1;
    }
    if (task.misses === 0) continue;
    for (let i = 0; i < points.length; i++) {
      if (ids[i] !== 0) continue;
      const metric = (points[i] as StorePoint).metric;
      const suffix = suffixes[i] as string;
      const key = metric + SEP + suffix;
      if (!missed.has(key)) missed.set(key, { metric, suffix, id: 0 });
    }
  }
  return { missed, total };
}

/**
 * Look the missed series up in the dictionary; give those never seen the
 * next ids, adding both dictionary keys and the changed counters to `batch`.
 * Returns the next id and the series created, to publish once durable.
 */
async function assignIds(
  s: StoreState,
  batch: Batch,
  missed: Missed,
): Promise<{ nextId: number; created: number }> {
  let nextId = s.nextId;
  let created = 0;
  const misses = [...missed.keys()];
  const found = await s.db.getMany(misses.map(seriesDictKey));
  for (let i = 0; i < misses.length; i++) {
    const key = misses[i] as string;
    const miss = missed.get(key) as { id: number };
    const v = found[i];
    if (v !== undefined) {
      miss.id = v.readUInt32BE(0);
      continue;
    }
    const id = nextId++;
    if (id >= TWO_32) throw new StoreError(StoreErrorCode.IO, 'series id space exhausted');
    const idBuf = Buffer.allocUnsafe(4);
    idBuf.writeUInt32BE(id);
    batch.put(seriesDictKey(key), idBuf);
    batch.put(idKey(id), Buffer.from(key, 'utf8'));
    miss.id = id;
    created++;
  }
  if (created > 0) {
    batch.put(K_NEXT_ID, encodeU64(nextId));
    batch.put(K_SERIES, encodeU64(s.seriesCount + created));
  }
  return { nextId, created };
}

/** Put the ids found or assigned into the writes' id arrays, where the cache missed. */
function fillMissedIds(group: WriteTask[], missed: Missed): void {
  for (const task of group) {
    if (task.misses === 0) continue;
    const { points, suffixes, ids } = task;
    for (let i = 0; i < points.length; i++) {
      if (ids[i] !== 0) continue;
      const key = (points[i] as StorePoint).metric + SEP + (suffixes[i] as string);
      ids[i] = (missed.get(key) as { id: number }).id;
    }
  }
}

/** Encode every point of the group, in call order, as one log record in `s.logWriter`. */
function encodeLogRecord(s: StoreState, group: WriteTask[], total: number): void {
  const w = s.logWriter;
  beginLogRecord(w, total);
  let prevTs = 0;
  for (const task of group) {
    const { points, ids } = task;
    for (let i = 0; i < points.length; i++) {
      const p = points[i] as StorePoint;
      pushLogPoint(w, prevTs, ids[i] as number, p.timestampMs, p.value);
      prevTs = p.timestampMs;
    }
  }
}

/** The group's points join the pending set, as log record `seq`. */
function publishPoints(s: StoreState, group: WriteTask[], seq: number): void {
  s.nextSeq = seq + 1;
  s.pending.seqs.push(seq);
  for (const task of group) {
    const { points, ids } = task;
    s.pending.samples += task.samples;
    for (let i = 0; i < points.length; i++) {
      s.pending.add(ids[i] as number, (points[i] as StorePoint).timestampMs, (points[i] as StorePoint).value);
    }
  }
}
