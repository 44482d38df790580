/**
 * Worker-thread entry of WorkerSampleStore (worker-codec.ts describes the
 * messages): opens a RocksSampleStore from workerData and serves the main
 * thread's calls in arrival order. The writes of one message, and those
 * arriving while a batch is being written, join the next group commit as
 * they would on one thread. Answers settled together leave in one message.
 */
import { toWireError } from '../../protocol/index.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RocksSampleStore } from './rocks-store.js';
import type { ListSeriesOptions, SeriesQuery, StorePoint, WriteExtra } from './types.js';
import {
  Op,
  metaRowsToWire,
  metaValueToWire,
  unpackPoints,
  type PackedPoints,
  type WireAnswer,
  type WireCall,
  type WorkerInit,
  type WorkerMessage,
} from './worker-codec.js';

if (!parentPort) throw new Error('store-worker runs only as a worker thread');
const port: MessagePort = parentPort;
const init = workerData as WorkerInit;

function post(m: WorkerMessage): void {
  port.postMessage(m);
}

const store = await RocksSampleStore.open({
  ...init.options,
  onError: (err) => post({ t: 'bg-error', error: toWireError(err) }),
  onWalTailCut: (cut) => post({ t: 'wal-cut', cut }),
}).catch((err: unknown) => {
  post({ t: 'open-failed', error: toWireError(err) });
  return undefined;
});
if (store) serve(store);
else port.close(); // nothing else keeps the thread alive: it ends

function serve(store: RocksSampleStore): void {
  post({ t: 'opened', blockSpanMs: store.blockSpanMs });
  const answer = answerBatcher();
  port.on('message', (calls: WireCall[]) => {
    for (const c of calls) {
      let p: Promise<unknown>;
      try {
        p = run(store, c);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (v) => answer({ id: c.id, v }),
        (err: unknown) => answer({ id: c.id, e: toWireError(err) }),
      );
    }
  });
}

/** Collects answers and posts those of one tick in one message. */
function answerBatcher(): (a: WireAnswer) => void {
  let answers: WireAnswer[] = [];
  let flushQueued = false;

  function flush(): void {
    flushQueued = false;
    const out = answers;
    answers = [];
    try {
      post({ t: 'answers', answers: out });
    } catch (err) {
      // A result that does not clone (none should): fail those calls, not the worker.
      const e = toWireError(err);
      post({ t: 'answers', answers: out.map((a) => ({ id: a.id, e })) });
    }
  }

  return (a) => {
    answers.push(a);
    if (flushQueued) return;
    flushQueued = true;
    // After the other settlements of this tick (a group commit settles all its writes at once).
    queueMicrotask(flush);
  };
}

function run(store: RocksSampleStore, c: WireCall): Promise<unknown> {
  switch (c.op) {
    case Op.WRITE:
      return store.write(c.a as StorePoint[], c.b as WriteExtra | undefined);
    case Op.PACKED_WRITE:
      return store.write(unpackPoints(c.a as PackedPoints), c.b as WriteExtra | undefined);
    case Op.QUERY:
      return store.query(c.a as SeriesQuery);
    case Op.LIST_SERIES:
      return store.listSeries(c.a as ListSeriesOptions);
    case Op.STATS:
      return store.stats();
    case Op.RETENTION:
      return store.applyRetention(c.a as number);
    case Op.GET_META:
      return store.getMeta(c.a as string).then(metaValueToWire);
    case Op.LIST_META:
      return store.listMeta(c.a as string, c.b as number | undefined).then(metaRowsToWire);
    case Op.COUNTERS:
      return Promise.resolve(store.counters());
    case Op.FLUSH:
      return store.flush();
    case Op.CLOSE:
      return store.close();
    default:
      return Promise.reject(new Error(`store worker: unknown call ${String(c.op)}`));
  }
}
