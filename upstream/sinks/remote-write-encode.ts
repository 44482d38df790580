/**
 * Points → one remote_write request body: a `WriteRequest` protobuf, snappy block-compressed
 * (the remote_write 1.0 wire format). Points of one series are grouped, samples sorted by time.
 */
import snappy from 'snappy';
import type { StorePoint } from '../store/index.js';
import { promSeries, type PromDropReason, type PromNaming } from './prom-series.js';
import { WriteRequest, type WireTimeSeries } from './remote-write-proto.js';

export interface EncodedRequest {
  body: Buffer;
  /** Samples in the body. */
  samples: number;
  /** Points left out, by reason (see prom-series.ts). */
  dropped: Partial<Record<PromDropReason, number>>;
}

/** The point's series as given: metric and tags in their own order (`\0` never appears in names). */
function rawKey(p: StorePoint): string {
  let key = p.metric;
  for (const k in p.tags) key += '\0' + k + '\0' + p.tags[k];
  return key;
}

/**
 * Group points by their Prometheus label set. Naming runs once per distinct series of the
 * request (two tag orders of one series meet again under the label-set key).
 */
export function buildTimeSeries(
  points: readonly StorePoint[],
  naming: PromNaming,
): { series: WireTimeSeries[]; samples: number; dropped: EncodedRequest['dropped'] } {
  const byRaw = new Map<string, WireTimeSeries | PromDropReason>();
  const byLabels = new Map<string, WireTimeSeries>();
  const dropped: EncodedRequest['dropped'] = {};
  let samples = 0;
  for (const p of points) {
    const raw = rawKey(p);
    let ts = byRaw.get(raw);
    if (ts === undefined) {
      ts = seriesOf(p, naming, byLabels);
      byRaw.set(raw, ts);
    }
    if (typeof ts === 'string') {
      dropped[ts] = (dropped[ts] ?? 0) + 1;
      continue;
    }
    ts.samples.push({ value: p.value, timestamp: p.timestampMs });
    samples++;
  }
  const series = [...byLabels.values()];
  for (const ts of series) if (!ascending(ts.samples)) ts.samples.sort((a, b) => a.timestamp - b.timestamp);
  return { series, samples, dropped };
}

/** The log yields points in time order: most series need no sort. */
function ascending(samples: readonly { timestamp: number }[]): boolean {
  for (let i = 1; i < samples.length; i++)
    if (samples[i]!.timestamp < samples[i - 1]!.timestamp) return false;
  return true;
}

function seriesOf(
  p: StorePoint,
  naming: PromNaming,
  byLabels: Map<string, WireTimeSeries>,
): WireTimeSeries | PromDropReason {
  const s = promSeries(p, naming);
  if (!s.ok) return s.reason;
  const key = s.labels.map((l) => `${l.name}\0${l.value}`).join('\0');
  let ts = byLabels.get(key);
  if (ts === undefined) {
    ts = { labels: s.labels, samples: [] };
    byLabels.set(key, ts);
  }
  return ts;
}

export function encodeRemoteWrite(points: readonly StorePoint[], naming: PromNaming): EncodedRequest {
  const { series, samples, dropped } = buildTimeSeries(points, naming);
  return { body: snappy.compressSync(encodeWriteRequest(series)), samples, dropped };
}

/** The uncompressed `WriteRequest` protobuf of grouped series. */
export function encodeWriteRequest(series: WireTimeSeries[]): Uint8Array {
  return WriteRequest.encode({ timeseries: series }).finish();
}

/** Decode a request body (tests, debugging). */
export function decodeRemoteWrite(body: Uint8Array): WireTimeSeries[] {
  const raw = snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
  const msg = WriteRequest.toObject(WriteRequest.decode(raw), { longs: Number, defaults: true }) as {
    timeseries: WireTimeSeries[];
  };
  return msg.timeseries;
}
