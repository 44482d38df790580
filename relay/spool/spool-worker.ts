/**
 * Worker-thread entry of WorkerSpool (worker-spool.ts describes the messages):
 * opens a RocksSpool from workerData and serves the main thread's calls in
 * arrival order. The calls of one message, and those arriving while a batch
 * is being written, join the next group commit as they would on one thread.
 */
import { toWireError } from '../../protocol/index.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openRocksSpool, type RocksSpool } from './rocks-spool.js';
import { VALUE_HEADER_BYTES } from './format.js';
import type { SpoolEntry, SpoolLogger, SpoolStats } from './spool.js';
import {
  decodeCalls,
  Op,
  toWireLog,
  type DecodedCall,
  type WireAnswer,
  type WireEntries,
  type WorkerInit,
  type WorkerMessage,
} from './worker-spool.js';

if (!parentPort) throw new Error('spool-worker runs only as a worker thread');
const port: MessagePort = parentPort;
const init = workerData as WorkerInit;

function post(m: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

/** The main thread's clock as of the latest call: every call carries a reading. */
let clock = init.now;

function forward(level: 'info' | 'warn' | 'error'): (obj: object, msg?: string) => void {
  return (obj, msg) => {
    try {
      post({ t: 'log', level, obj: toWireLog(obj), msg });
    } catch (err) {
      post({ t: 'log', level, obj: { unserializable: String(err) }, msg });
    }
  };
}
const logger: SpoolLogger = { info: forward('info'), warn: forward('warn'), error: forward('error') };

const spool = await openRocksSpool({ ...init.options, sweepTimer: false, now: () => clock, logger }).catch(
  (err: unknown) => {
    post({ t: 'open-failed', error: toWireError(err) });
    return undefined;
  },
);
if (spool) serve(spool);
else port.close(); // nothing else keeps the thread alive: it ends

function serve(spool: RocksSpool): void {
  // The main side runs the age-cap timer (with its clock) and sends sweep calls
  // (sweepTimer: false above), so state changes only inside calls, each
  // answered with a snapshot.

  let lastSent: SpoolStats = spool.stats();
  post({ t: 'opened', stats: lastSent });

  // Answers settled in one go (a group commit settles all its appends and
  // releases together) leave in one message, once those settlements ran.
  let done: number[] = [];
  let other: WireAnswer[] = [];
  let transfer: ArrayBuffer[] = [];
  let flushQueued = false;
  let checkQueued = false;

  function queued(): void {
    if (flushQueued) return;
    flushQueued = true;
    queueMicrotask(flush);
  }

  function flush(): void {
    flushQueued = false;
    const d = new Float64Array(done);
    transfer.push(d.buffer);
    lastSent = spool.stats();
    post({ t: 'answers', done: d, other, stats: lastSent }, transfer);
    done = [];
    other = [];
    transfer = [];
    if (!checkQueued) {
      checkQueued = true;
      setImmediate(stateCheck);
    }
  }

  /** After a turn with answers: if the state moved on since the last snapshot sent, send it. */
  function stateCheck(): void {
    checkQueued = false;
    const s = spool.stats();
    if (!sameState(s, lastSent)) {
      lastSent = s;
      post({ t: 'state', stats: s });
    }
  }

  function failed(id: number, err: unknown): void {
    other.push({ id, error: toWireError(err) });
    queued();
  }

  function handle(c: DecodedCall): void {
    clock = c.now;
    const { id } = c;
    switch (c.op) {
      case Op.APPEND:
        spool.append(c.records).then(
          (r) => {
            done.push(id, r.first, r.last);
            queued();
          },
          failed.bind(null, id),
        );
        return;
      case Op.READ:
        spool.read(c.fromSeq, c.limits).then(
          (entries) => {
            other.push({ id, entries: wireEntries(entries, transfer) });
            queued();
          },
          failed.bind(null, id),
        );
        return;
      case Op.RELEASE:
        spool.release(c.first, c.last).then(
          (r) => {
            done.push(id, r.records, r.samples);
            queued();
          },
          failed.bind(null, id),
        );
        return;
      case Op.SWEEP:
      case Op.CLOSE:
        (c.op === Op.SWEEP ? spool.sweep() : spool.close()).then(
          () => {
            done.push(id, 0, 0);
            queued();
          },
          failed.bind(null, id),
        );
        return;
      case Op.DISK_BYTES:
        spool.diskBytes().then(
          (bytes) => {
            done.push(id, bytes, 0);
            queued();
          },
          failed.bind(null, id),
        );
        return;
    }
  }

  port.on('message', (data: ArrayBuffer) => {
    for (const c of decodeCalls(data)) handle(c);
  });
}

function sameState(a: SpoolStats, b: SpoolStats): boolean {
  return (
    a.records === b.records &&
    a.bytes === b.bytes &&
    a.samples === b.samples &&
    a.diskBytes === b.diskBytes &&
    a.firstSeq === b.firstSeq &&
    a.nextSeq === b.nextSeq &&
    a.oldestReceivedAt === b.oldestReceivedAt &&
    a.appendedRecords === b.appendedRecords &&
    a.droppedRecords === b.droppedRecords &&
    a.rejectedRecords === b.rejectedRecords &&
    a.spoolId === b.spoolId
  );
}

/**
 * Read results. A payload's ArrayBuffer is handed over when it holds exactly
 * that record's value (header + payload): the binding returns each value in a
 * buffer of its own and the spool keeps no reference to it. Otherwise the
 * payload is first copied into a buffer of its own.
 */
function wireEntries(entries: SpoolEntry[], transfer: ArrayBuffer[]): WireEntries {
  const meta = new Float64Array(3 * entries.length);
  const payloads = new Array<Uint8Array>(entries.length);
  transfer.push(meta.buffer);
  const seen = new Set<ArrayBuffer>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    meta[3 * i] = e.seq;
    meta[3 * i + 1] = e.samples;
    meta[3 * i + 2] = e.receivedAt;
    let p: Buffer = e.payload;
    const ab = p.buffer;
    const own =
      ab instanceof ArrayBuffer &&
      p.byteOffset === VALUE_HEADER_BYTES &&
      ab.byteLength === VALUE_HEADER_BYTES + p.length &&
      !seen.has(ab);
    if (!own) {
      const copy = Buffer.allocUnsafeSlow(p.length);
      p.copy(copy);
      p = copy;
    }
    seen.add(p.buffer as ArrayBuffer);
    transfer.push(p.buffer as ArrayBuffer);
    payloads[i] = p;
  }
  return { meta, payloads };
}
