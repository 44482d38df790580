/**
 * Agent packets (as relays forward them) → store points and registry events.
 * Pure: no I/O. v3 naming is kept: a v3 sample becomes the series
 * `<service_name>.<metric>` with tags `uuid` and `ip`, plus `zone` (the relay
 * it came through, or `direct`). v3 timestamps are Unix seconds.
 */
import {
  defaultParser,
  PacketType,
  type AssetDiscovery,
  type NetDevice,
  type Port,
  type PortDiscovery,
  type SeriesBatch,
  type SeriesData,
  UPLINK_PACKED_TYPE,
  unpackSections,
} from '../protocol/index.js';
import type { StorePoint } from './store/index.js';

/** One agent packet as received upstream. */
export interface IngestRecord {
  type: number;
  body: Buffer;
  /** UUID the relay vouched for (from the agent's HELLO), or ''. */
  uuid: string;
  /** Agent source address at the relay. */
  src: string;
  receivedAtMs: number;
}

export type RegistryEvent =
  | { kind: 'heartbeat'; uuid: string; atMs: number; ip: string }
  | { kind: 'discover'; uuid: string; service: string; metric: string }
  | { kind: 'ports'; uuid: string; ports: Port[] }
  | { kind: 'asset'; uuid: string; asset: AssetDiscovery }
  | { kind: 'devices'; zone: string; devices: NetDevice[] }
  | { kind: 'portStatus'; zone: string; ports: Port[] };

export interface IngestResult {
  points: StorePoint[];
  events: RegistryEvent[];
  /** SERIESBATCHes by (agent uuid, session, seq), for agent-level de-duplication. */
  batches: { uuid: string; session: string; seq: number; firstPoint: number; points: number }[];
  /** Records that failed validation (counted, never stored). */
  invalid: number;
}

/** Seconds or milliseconds? v3 sends seconds; anything past year 5138 in seconds is taken as ms. */
export function toMs(timestamp: number): number {
  return Math.round(timestamp < 1e11 ? timestamp * 1000 : timestamp);
}

export function seriesName(service: string | undefined, metric: string): string {
  return service === undefined || service === '' ? metric : `${service}.${metric}`;
}

/** Convert records from one zone; bad records are counted, never thrown. */
export function ingest(records: readonly IngestRecord[], zone: string): IngestResult {
  const out: IngestResult = { points: [], events: [], batches: [], invalid: 0 };
  for (const record of records) {
    if (record.type !== UPLINK_PACKED_TYPE) {
      addPacket(out, record, record.type, record.body, zone);
      continue;
    }
    let sections;
    try {
      sections = unpackSections(record.body);
    } catch {
      out.invalid++;
      continue;
    }
    for (const section of sections) {
      const from = { ...record, src: section.src, uuid: section.uuid };
      for (const frame of section.frames) addPacket(out, from, frame.type, frame.body, zone);
    }
  }
  return out;
}

/** One agent packet of `record` (the record itself, or one packet of a PACKED record). */
function addPacket(out: IngestResult, record: IngestRecord, type: number, body: Buffer, zone: string): void {
  let packet;
  try {
    packet = defaultParser.parse({ type, body });
  } catch {
    out.invalid++;
    return;
  }
  switch (packet.type) {
    case PacketType.SERIESDATA:
      addSeriesData(out, packet.body, zone);
      break;
    case PacketType.SERIESBATCH:
      addBatch(out, packet.body, record.uuid, zone);
      break;
    case PacketType.HOSTHB:
      if (packet.body !== null) {
        out.events.push({
          kind: 'heartbeat',
          uuid: packet.body.uuid,
          atMs: record.receivedAtMs,
          ip: hostOf(record.src),
        });
      }
      break;
    case PacketType.PORTDISCOVERYR:
      addPorts(out, packet.body);
      break;
    case PacketType.ASSESTDISCOVERY:
      out.events.push({ kind: 'asset', uuid: packet.body.uuid, asset: packet.body });
      break;
    case PacketType.UPDATEDEVICES:
      out.events.push({ kind: 'devices', zone, devices: packet.body ?? [] });
      break;
    case PacketType.UPDATEPORTS:
      out.events.push({ kind: 'portStatus', zone, ports: packet.body ?? [] });
      break;
    default:
      out.invalid++;
  }
}

function addSeriesData(out: IngestResult, s: SeriesData, zone: string): void {
  const tags: Record<string, string> = { uuid: s.uuid, zone };
  if (s.ip !== undefined && s.ip !== '') tags['ip'] = s.ip;
  out.points.push({
    metric: seriesName(s.service_name, s.metric),
    tags,
    timestampMs: toMs(s.timestamp),
    value: s.value,
  });
  if (s.flag === 1 && s.service_name !== undefined) {
    out.events.push({ kind: 'discover', uuid: s.uuid, service: s.service_name, metric: s.metric });
  }
}

function addBatch(out: IngestResult, b: SeriesBatch, helloUuid: string, zone: string): void {
  const first = out.points.length;
  for (const s of b.samples) {
    const uuid = s.uuid ?? b.uuid ?? helloUuid;
    const ip = s.ip ?? b.ip;
    const tags: Record<string, string> = { ...s.tags, zone };
    if (uuid !== '') tags['uuid'] = uuid;
    if (ip !== undefined && ip !== '') tags['ip'] = ip;
    const timestampMs = s.timestamp_ms ?? toMs(s.timestamp ?? 0);
    out.points.push({ metric: seriesName(s.service_name, s.metric), tags, timestampMs, value: s.value });
    if (s.flag === 1 && s.service_name !== undefined && uuid !== '') {
      out.events.push({ kind: 'discover', uuid, service: s.service_name, metric: s.metric });
    }
  }
  const uuid = b.uuid ?? helloUuid;
  out.batches.push({
    uuid,
    session: b.session,
    seq: b.seq,
    firstPoint: first,
    points: out.points.length - first,
  });
}

function addPorts(out: IngestResult, p: PortDiscovery): void {
  out.events.push({ kind: 'ports', uuid: p.uuid, ports: p.ports ?? [] });
}

/** `10.0.0.1:5123` / `[::1]:5123` / `10.0.0.1` → the address. */
function hostOf(src: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(src);
  if (m !== null) return m[1] as string;
  return /^[\d.]+:\d+$/.test(src) ? src.slice(0, src.lastIndexOf(':')) : src;
}
