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
  /**
   * Per input record, how many points, events and batches the result holds
   * once that record is converted: what `sliceIngest` cuts at, so a batch can
   * be stored in several writes that each hold whole records.
   */
  ends: { points: Uint32Array; events: Uint32Array; batches: Uint32Array };
}

/** Seconds or milliseconds? v3 sends seconds; anything past year 5138 in seconds is taken as ms. */
function toMs(timestamp: number): number {
  return Math.round(timestamp < 1e11 ? timestamp * 1000 : timestamp);
}

function seriesName(service: string | undefined, metric: string): string {
  return service === undefined || service === '' ? metric : `${service}.${metric}`;
}

/** Convert records from one zone; bad records are counted, never thrown. */
export function ingest(records: readonly IngestRecord[], zone: string): IngestResult {
  const n = records.length;
  const ends = { points: new Uint32Array(n), events: new Uint32Array(n), batches: new Uint32Array(n) };
  const out: IngestResult = { points: [], events: [], batches: [], invalid: 0, ends };
  const hosts = new HostTags(zone);
  for (let i = 0; i < n; i++) {
    addRecord(out, records[i] as IngestRecord, hosts);
    ends.points[i] = out.points.length;
    ends.events[i] = out.events.length;
    ends.batches[i] = out.batches.length;
  }
  return out;
}

/**
 * The part of `result` that records [from, to) of its input produced
 * (`invalid` is not split: it stays with the whole result). Batches keep
 * their points, as a SERIESBATCH lies within one record.
 */
export function sliceIngest(result: IngestResult, from: number, to: number): IngestResult {
  const { ends } = result;
  const at = (a: Uint32Array, i: number): number => (i === 0 ? 0 : (a[i - 1] as number));
  const p0 = at(ends.points, from);
  const b0 = at(ends.batches, from);
  return {
    points: result.points.slice(p0, at(ends.points, to)),
    events: result.events.slice(at(ends.events, from), at(ends.events, to)),
    batches: result.batches
      .slice(b0, at(ends.batches, to))
      .map((b) => ({ ...b, firstPoint: b.firstPoint - p0 })),
    invalid: 0,
    ends: {
      points: ends.points.subarray(from, to).map((e) => e - p0),
      events: ends.events.subarray(from, to).map((e) => e - at(ends.events, from)),
      batches: ends.batches.subarray(from, to).map((e) => e - b0),
    },
  };
}

/** Points the records [from, to) of `result`'s input produced. */
export function slicePoints(result: IngestResult, from: number, to: number): number {
  const ends = result.ends.points;
  return (to === 0 ? 0 : (ends[to - 1] as number)) - (from === 0 ? 0 : (ends[from - 1] as number));
}

function addRecord(out: IngestResult, record: IngestRecord, hosts: HostTags): void {
  if (record.type !== UPLINK_PACKED_TYPE) {
    addPacket(out, record, record.type, record.body, hosts);
    return;
  }
  let sections;
  try {
    sections = unpackSections(record.body);
  } catch {
    out.invalid++;
    return;
  }
  for (const section of sections) {
    const from = { ...record, src: section.src, uuid: section.uuid };
    for (const frame of section.frames) addPacket(out, from, frame.type, frame.body, hosts);
  }
}

/** One agent packet of `record` (the record itself, or one packet of a PACKED record). */
function addPacket(
  out: IngestResult,
  record: IngestRecord,
  type: number,
  body: Buffer,
  hosts: HostTags,
): void {
  const zone = hosts.zone;
  let packet;
  try {
    packet = defaultParser.parse({ type, body });
  } catch {
    out.invalid++;
    return;
  }
  switch (packet.type) {
    case PacketType.SERIESDATA:
      addSeriesData(out, packet.body, hosts);
      break;
    case PacketType.SERIESBATCH:
      addBatch(out, packet.body, record.uuid, hosts);
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

/**
 * One tags object for consecutive points of the same host: the store resolves
 * a tag set once per run of points sharing one object, so a PACKED record's
 * v3 samples cost one lookup per host run instead of one per sample.
 */
class HostTags {
  private uuid: string | undefined;
  private ip: string | undefined;
  private tags: Record<string, string> = {};
  /** The host's tags merged with a sample's own, one object per distinct tag set of this host. */
  private merged = new Map<string, Record<string, string>>();

  constructor(readonly zone: string) {}

  get(uuid: string, ip: string | undefined): Record<string, string> {
    if (uuid !== this.uuid || ip !== this.ip) {
      this.uuid = uuid;
      this.ip = ip;
      this.tags = { zone: this.zone };
      if (uuid !== '') this.tags['uuid'] = uuid;
      if (ip !== undefined && ip !== '') this.tags['ip'] = ip;
      this.merged = new Map();
    }
    return this.tags;
  }

  /**
   * The host's tags over a sample's own tags, shared by every sample of this
   * host with the same tags: the store then resolves each series' tags once
   * per write, not once per point, and the worker clones one object per set.
   */
  with(uuid: string, ip: string | undefined, own: Readonly<Record<string, string>>): Record<string, string> {
    const host = this.get(uuid, ip);
    let key = '';
    for (const k in own) key += `${k}\u0000${own[k] as string}\u0000`;
    let tags = this.merged.get(key);
    if (tags === undefined) {
      tags = { ...own, ...host };
      if (this.merged.size >= MAX_MERGED_TAG_SETS) this.merged.clear();
      this.merged.set(key, tags);
    }
    return tags;
  }
}

/** Distinct per-sample tag sets remembered per host (HostTags.with); past it, start again. */
const MAX_MERGED_TAG_SETS = 4096;

function addSeriesData(out: IngestResult, s: SeriesData, hosts: HostTags): void {
  const tags = hosts.get(s.uuid, s.ip);
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

function addBatch(out: IngestResult, b: SeriesBatch, helloUuid: string, hosts: HostTags): void {
  const first = out.points.length;
  for (const s of b.samples) {
    const uuid = s.uuid ?? b.uuid ?? helloUuid;
    const ip = s.ip ?? b.ip;
    const tags = s.tags === undefined ? hosts.get(uuid, ip) : hosts.with(uuid, ip, s.tags);
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
