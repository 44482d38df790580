/**
 * Worker-thread entry of WorkerSampleStore (worker-codec.ts describes the
 * messages, worker/port.ts the serving loop): opens a RocksSampleStore from
 * workerData and serves the main thread's calls in arrival order. The writes
 * of one message, and those arriving while a batch is being written, join the
 * next group commit as they would on one thread.
 */
import { toWireError } from '../../protocol/index.js';
import { HostPort } from '../../worker/index.js';
import { RocksSampleStore } from './rocks-store.js';
import type { ListSeriesOptions, SeriesQuery, StorePoint, WriteExtra } from './types.js';
import {
  Op,
  answersMessage,
  forwardToWire,
  metaRowsToWire,
  metaValueToWire,
  unpackPoints,
  type PackedPoints,
  type StoreEvent,
  type WireCall,
  type WorkerInit,
} from './worker-codec.js';

const port = new HostPort<WorkerInit>('store-worker');

function post(m: StoreEvent): void {
  port.post(m);
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
    case Op.READ_FORWARD: {
      const a = c.a as { sink: string; afterSeq: number; maxPoints: number };
      return store.readForward(a.sink, a.afterSeq, a.maxPoints).then(forwardToWire);
    }
    case Op.READ_FORWARD_ENCODED: {
      const a = c.a as { sink: string; afterSeq: number; maxPoints: number; shards?: number };
      return store.readForwardEncoded(a.sink, a.afterSeq, a.maxPoints, a.shards);
    }
    case Op.ACK_FORWARD:
      return store.ackForward(c.a as string, c.b as number);
    case Op.FORWARD_STATS:
      return store.forwardStats();
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

await port.serve(
  () =>
    RocksSampleStore.open({
      ...port.init.options,
      onError: (err) => post({ t: 'bg-error', error: toWireError(err) }),
      onWalTailCut: (cut) => post({ t: 'wal-cut', cut }),
    }),
  (store) => ({
    opened: { blockSpanMs: store.blockSpanMs },
    service: {
      decode: (data) => data as WireCall[],
      run: (c) => run(store, c),
      answers: answersMessage,
    },
  }),
);
