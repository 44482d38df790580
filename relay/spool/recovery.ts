/**
 * Opening a RocksSpool's directory: what is there, what can be opened, and
 * the counters rebuilt from the segments' metas.
 *
 * RocksDB replays each segment's WAL (point-in-time recovery), after a
 * damaged tail has been cut off (rocks/wal-tail.ts: RocksDB can loop forever
 * on some; the bytes go to `<dir>.damaged-<ms>/`). A segment that cannot be
 * opened (corrupt CURRENT/MANIFEST, ...), or whose meta is missing or
 * unreadable while it holds data, is moved to `<dir>.damaged-<ms>/` with an
 * error log line and the spool opens without it; the next seq then skips past
 * its range. A segment with neither meta nor data (crash while creating it)
 * is deleted. Anything else in `<dir>` is moved aside too. A lock held by
 * another process, or an I/O error such as a full disk, is not damage: open
 * throws OWL_ERR_SPOOL_LOCKED / OWL_ERR_SPOOL_IO.
 *
 * Counters: the newest segment's meta holds the spool id, the counters of
 * removed segments (`retired`) and `pending` (segments retired but maybe not
 * yet deleted: deleted now, without counting them twice). The next seq is one
 * past the highest any segment reached, or past a damaged segment's whole
 * range (SEGMENT_MAX_RECORDS seqs), so seqs are never reused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { cutDamagedWalTails, rocksCause } from '../../rocks/index.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import { newRetired, newSegmentMeta, parseSegmentName, TRASH_PREFIX, type SegmentMeta } from './format.js';
import type { Segment } from './segment.js';
import type { SegmentLog } from './segment-log.js';
import { neverCreated, removeSegmentDir } from './segment-files.js';
import type { SpoolLogger } from './spool.js';

/** Most seqs one segment may span; bounds the seqs lost with a damaged segment. */
export const SEGMENT_MAX_RECORDS = 2 ** 24;

/** Moves damaged files and folders of one spool to `<dir>.damaged-<stamp>/`, logging each. */
class DamageMover {
  readonly root: string;

  constructor(
    private readonly dir: string,
    stamp: number,
    private readonly log: SpoolLogger,
  ) {
    this.root = `${dir}.damaged-${stamp}`;
  }

  moveAside(src: string, why: string, err?: unknown): void {
    const dest = path.join(this.root, path.basename(src));
    fs.mkdirSync(this.root, { recursive: true });
    fs.renameSync(src, dest);
    this.log.error(
      {
        dir: this.dir,
        movedTo: dest,
        reason: why,
        err: err === undefined ? undefined : rocksCause(err).message,
      },
      'spool: damaged data moved aside',
    );
  }

  /**
   * Cut damaged bytes off the end of a segment's WALs before RocksDB replays them (rocks/wal-tail.ts:
   * RocksDB 9.7 can loop forever on some), keeping them under the damaged folder. A failure to scan
   * is logged and left to RocksDB's own recovery.
   */
  cutWalTails(segDir: string): void {
    try {
      for (const c of cutDamagedWalTails(segDir, path.join(this.root, path.basename(segDir)))) {
        this.log.warn(
          { dir: this.dir, ...c },
          'spool: damaged WAL tail cut before recovery; the records before it are kept',
        );
      }
    } catch (err) {
      this.log.error(
        { dir: segDir, err: (err as Error).message },
        'spool: cannot check WAL tails; RocksDB recovers them',
      );
    }
  }
}

/**
 * Recover the segments under `store.dir` into `store` (segments, id, retired counters, next seq),
 * heads found and sizes measured. `now` names the folder damaged data goes to.
 */
export async function recoverSegments(store: SegmentLog, log: SpoolLogger, now: number): Promise<void> {
  const mover = new DamageMover(store.dir, now, log);
  ensureDirectory(store.dir, now, log);
  const found = listSegments(store.dir, mover);
  const damaged: number[] = [];
  const segs: Segment[] = [];
  try {
    for (const { first, name } of found) {
      const seg = await openSegment(store, first, name, mover);
      if (seg === 'damaged') damaged.push(first);
      else if (seg !== 'removed') segs.push(seg);
    }
  } catch (err) {
    for (const s of segs) await s.closeHandle().catch(() => undefined);
    throw err;
  }
  store.segments = segs; // from here on, closing the store closes them
  await rebuildCounters(store, damaged, log);
  for (const seg of store.segments) {
    store.touch(seg);
    await seg.findHead();
    seg.measure(now);
  }
}

/** The spool path itself must be a directory: anything else there is moved aside. */
function ensureDirectory(dir: string, stamp: number, log: SpoolLogger): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    const dest = `${dir}.damaged-${stamp}`;
    fs.renameSync(dir, dest);
    log.error({ dir, movedTo: dest }, 'spool path was not a directory; moved aside');
  }
  fs.mkdirSync(dir, { recursive: true });
}

/** Segment directories by first seq, oldest first; trash is deleted and anything else moved aside. */
function listSegments(dir: string, mover: DamageMover): Array<{ first: number; name: string }> {
  const found: Array<{ first: number; name: string }> = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const first = parseSegmentName(e.name);
    if (e.name.startsWith(TRASH_PREFIX)) {
      fs.rmSync(path.join(dir, e.name), { recursive: true, force: true });
    } else if (first !== undefined && e.isDirectory()) {
      found.push({ first, name: e.name });
    } else {
      mover.moveAside(path.join(dir, e.name), 'not a spool segment');
    }
  }
  return found.sort((a, b) => a.first - b.first);
}

/**
 * Open one segment and read its meta. 'removed': it never held a record and is deleted;
 * 'damaged': moved aside. Throws OWL_ERR_SPOOL_LOCKED or OWL_ERR_SPOOL_IO for what is not damage.
 */
async function openSegment(
  store: SegmentLog,
  first: number,
  name: string,
  mover: DamageMover,
): Promise<Segment | 'removed' | 'damaged'> {
  const seg = store.segment(first, newSegmentMeta('?', first));
  const segDir = path.join(store.dir, name);
  if (neverCreated(segDir)) {
    // A crash while RocksDB was creating the segment: it never held a record.
    await removeSegmentDir(store.dir, name);
    return 'removed';
  }
  mover.cutWalTails(segDir);
  try {
    await seg.handle(false);
  } catch (err) {
    throwIfNotDamage(store.dir, err);
    mover.moveAside(segDir, 'segment cannot be opened', err);
    return 'damaged';
  }
  const { meta, why, cause } = await readMeta(seg, first);
  if (why !== undefined) {
    await seg.closeHandle().catch(() => undefined);
    mover.moveAside(segDir, why, cause);
    return 'damaged';
  }
  if (meta === undefined) {
    // Created but never written (crash while starting a segment).
    await seg.closeHandle();
    await removeSegmentDir(store.dir, name);
    return 'removed';
  }
  seg.meta = meta;
  return seg;
}

/** A lock held elsewhere or an I/O error is not damage: thrown as such. */
function throwIfNotDamage(dir: string, err: unknown): void {
  const { code, message } = rocksCause(err);
  if (code === 'LEVEL_LOCKED' || /\block\b/i.test(message)) {
    throw new SpoolError(SpoolErrorCode.LOCKED, `spool ${dir} is in use: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
  if (/No space left|Permission denied|Read-only file system|Too many open files/i.test(message)) {
    throw new SpoolError(SpoolErrorCode.IO, `cannot open spool ${dir}: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
}

/** The segment's meta, or why it cannot be trusted (`meta` undefined and no `why`: never written). */
async function readMeta(
  seg: Segment,
  first: number,
): Promise<{ meta?: SegmentMeta; why?: string; cause?: unknown }> {
  try {
    const meta = await seg.readMeta();
    if (meta === undefined) {
      return (await seg.hasData()) ? { why: 'segment holds records but no meta' } : {};
    }
    if (meta.first !== first || meta.next < first) return { why: 'segment meta does not match its name' };
    return { meta };
  } catch (err) {
    return { why: 'segment meta unreadable', cause: err };
  }
}

/** Id, retired counters and next seq from the newest meta; retired segments still present are deleted. */
async function rebuildCounters(
  store: SegmentLog,
  damaged: readonly number[],
  log: SpoolLogger,
): Promise<void> {
  const segs = store.segments;
  const newest = segs[segs.length - 1];
  store.id = newest?.meta.spoolId ?? randomUUID();
  store.retired = newest ? { ...newest.meta.retired } : newRetired();
  const pending = new Set(newest?.meta.pending ?? []);
  for (const seg of [...segs]) {
    if (seg !== newest && pending.has(seg.first)) {
      await seg.closeHandle();
      await removeSegmentDir(store.dir, seg.name);
      segs.splice(segs.indexOf(seg), 1);
    }
  }
  let next = 1;
  for (const seg of segs) next = Math.max(next, seg.meta.next);
  for (const first of damaged) next = Math.max(next, first + SEGMENT_MAX_RECORDS);
  store.next = next;
  if (damaged.length > 0 && newest && damaged.some((f) => f > newest.first)) {
    log.error(
      { dir: store.dir, nextSeq: next },
      'spool: the newest segment was damaged; cumulative counters are as of an older segment',
    );
  }
}
