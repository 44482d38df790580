/**
 * A buffered batch as v3 SERIESDATA packets, for a v3 td-proxy or td-server
 * (the agent can be rolled out before its zone's proxy is replaced). v3 has
 * no tags: a tagged sample goes out as `<metric>.<tag value>…` (tag keys in
 * sorted order), so per-core or per-disk series stay apart. Timestamps are
 * whole seconds: v3 servers read them as integers. Pure.
 */
import { encodePacket, PacketType, type BatchSample, type SeriesBatch } from '../../protocol/wire/index.js';

export function seriesDataFrames(body: Buffer, ip: string | undefined): Buffer {
  const batch = JSON.parse(body.toString()) as SeriesBatch;
  const frames: Buffer[] = [];
  for (const s of batch.samples)
    frames.push(encodePacket(PacketType.SERIESDATA, toSeriesData(s, batch.uuid ?? '', ip)));
  return Buffer.concat(frames);
}

function toSeriesData(s: BatchSample, uuid: string, ip: string | undefined) {
  const seconds =
    s.timestamp_ms !== undefined ? Math.floor(s.timestamp_ms / 1000) : Math.floor(s.timestamp ?? 0);
  const out = {
    uuid: s.uuid ?? uuid,
    ...((s.ip ?? ip) ? { ip: s.ip ?? ip } : {}),
    timestamp: seconds,
    ...(s.service_name !== undefined ? { service_name: s.service_name } : {}),
    metric: v3MetricName(s),
    value: s.value,
    ...(s.flag !== undefined ? { flag: s.flag } : {}),
  };
  return out;
}

export function v3MetricName(s: Pick<BatchSample, 'metric' | 'tags'>): string {
  if (!s.tags) return s.metric;
  const keys = Object.keys(s.tags).sort();
  return keys.length === 0 ? s.metric : `${s.metric}.${keys.map((k) => s.tags![k]).join('.')}`;
}
