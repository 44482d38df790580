/**
 * Forwarding-log columns → one remote_write request body: a `WriteRequest` protobuf, snappy
 * block-compressed (the remote_write 1.0 wire format). Points of one label set are grouped,
 * samples sorted by time.
 *
 * Each series' labels are encoded once (protobufjs, `TimeSeries { labels }`) and kept by store
 * id; a request then costs only its samples. Protobuf merges a message's repeated fields across
 * concatenated encodings, so the kept labels followed by `TimeSeries { samples }` is the whole
 * `TimeSeries`, written as one `timeseries` field of the request with protobufjs' Writer.
 */
import protobuf from 'protobufjs';
import snappy from 'snappy';
import type { StorePoint } from '../store/index.js';
import { promSeries, type PromDropReason, type PromNaming } from './prom-series.js';
import { TimeSeries, WriteRequest, type WireTimeSeries } from './remote-write-proto.js';
import {
  MAX_CACHED_SERIES,
  columnsOf,
  countDrop,
  singleBody,
  type EncodedBody,
  type EncodedRequests,
  type ForwardColumns,
  type SinkEncoder,
} from './sink-encoder.js';

/** `WriteRequest.timeseries`' key: its field number, wire type 2 (length-delimited). */
const TIMESERIES_KEY = ((WriteRequest.fields['timeseries'] as protobuf.Field).id << 3) | 2;

/** A series as kept: its label-set key (two store series may map to one) and encoded labels. */
interface Named {
  key: string;
  labels: Uint8Array;
}

interface Group {
  labels: Uint8Array;
  ts: number[];
  vals: number[];
}

type DropReason = PromDropReason | 'unknown_series';

export class RemoteWriteEncoder implements SinkEncoder {
  private readonly named = new Map<number, Named | DropReason>();

  constructor(readonly naming: PromNaming) {}

  encode(c: ForwardColumns, shards = 1): EncodedRequests {
    if (this.named.size > MAX_CACHED_SERIES) this.named.clear();
    const groups = new Map<string, Group>();
    const byId = new Map<number, Group | DropReason>();
    const dropped: Record<string, number> = {};
    let samples = 0;
    for (let i = 0; i < c.ids.length; i++) {
      const id = c.ids[i] as number;
      let g = byId.get(id);
      if (g === undefined) {
        g = this.groupOf(id, c, groups);
        byId.set(id, g);
      }
      if (typeof g === 'string') {
        countDrop(dropped, g);
        continue;
      }
      g.ts.push(c.ts[i] as number);
      g.vals.push(c.vals[i] as number);
      samples++;
    }
    const parts = assign([...groups.values()], shards).map((part) => ({
      body: snappy.compressSync(writeRequest(part.groups)),
      samples: part.samples,
    }));
    return { parts, samples, dropped };
  }

  private groupOf(id: number, c: ForwardColumns, groups: Map<string, Group>): Group | DropReason {
    let named = this.named.get(id);
    if (named === undefined) {
      named = this.name(c.nameOf(id));
      this.named.set(id, named);
    }
    if (typeof named === 'string') return named;
    let g = groups.get(named.key);
    if (g === undefined) {
      g = { labels: named.labels, ts: [], vals: [] };
      groups.set(named.key, g);
    }
    return g;
  }

  private name(series: Pick<StorePoint, 'metric' | 'tags'> | undefined): Named | DropReason {
    if (series === undefined) return 'unknown_series';
    const s = promSeries(series, this.naming);
    if (!s.ok) return s.reason;
    return {
      key: s.labels.map((l) => `${l.name}\0${l.value}`).join('\0'),
      labels: TimeSeries.encode({ labels: s.labels }).finish(),
    };
  }
}

/** Series into at most `shards` non-empty parts, each to the part with the fewest samples so far. */
function assign(groups: Group[], shards: number): Array<{ groups: Group[]; samples: number }> {
  const parts = Array.from({ length: Math.max(1, Math.min(shards, groups.length)) }, () => ({
    groups: [] as Group[],
    samples: 0,
  }));
  for (const g of groups) {
    let least = parts[0] as (typeof parts)[number];
    for (const p of parts) if (p.samples < least.samples) least = p;
    least.groups.push(g);
    least.samples += g.ts.length;
  }
  return parts.filter((p) => p.samples > 0);
}

function writeRequest(groups: Iterable<Group>): Uint8Array {
  const w = protobuf.Writer.create();
  for (const g of groups) {
    const samples = TimeSeries.encode({ samples: sortedSamples(g) }).finish();
    const series = new Uint8Array(g.labels.length + samples.length);
    series.set(g.labels);
    series.set(samples, g.labels.length);
    w.uint32(TIMESERIES_KEY).bytes(series);
  }
  return w.finish();
}

/** The log yields points in time order: most series need no sort. */
function sortedSamples(g: Group): Array<{ value: number; timestamp: number }> {
  const out = g.ts.map((timestamp, i) => ({ value: g.vals[i] as number, timestamp }));
  for (let i = 1; i < out.length; i++) {
    if ((out[i] as { timestamp: number }).timestamp < (out[i - 1] as { timestamp: number }).timestamp) {
      return out.sort((a, b) => a.timestamp - b.timestamp);
    }
  }
  return out;
}

/** Points as objects → one request body (a client's `send(points)`, tests). */
export function encodeRemoteWrite(points: readonly StorePoint[], naming: PromNaming): EncodedBody {
  return singleBody(new RemoteWriteEncoder(naming).encode(columnsOf(points)));
}

/** Decode a request body (tests, debugging). */
export function decodeRemoteWrite(body: Uint8Array): WireTimeSeries[] {
  const raw = snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
  const msg = WriteRequest.toObject(WriteRequest.decode(raw), { longs: Number, defaults: true }) as {
    timeseries: WireTimeSeries[];
  };
  return msg.timeseries;
}
