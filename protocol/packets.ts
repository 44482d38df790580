/**
 * Packet bodies, field for field as OWL v3 puts them on the wire (the
 * misspellings `assest`, `vender`, `memorys` included), plus the v4
 * extensions. Unknown fields are kept by the parser and never rejected, so
 * these interfaces list what OWL reads, not everything a peer may send.
 * Ids whose v3 type varies between v3 builds are `number | string`.
 */
import type { PacketType } from './packet-types.js';

export type Id = number | string;
export type DataType = 'GAUGE' | 'COUNTER' | 'DERIVE';

/** 0 HOSTCONFIG: agent → relay/upstream, "who am I, what do I run". */
export interface HostConfigRequest {
  uuid: string;
  proxy?: string;
  ip?: string;
  hostname?: string;
  kernel?: string;
  os?: string;
  idrac_addr?: string;
  /**
   * OWL: the agent software (`owl-agent/0.1.0`; `v3` for a td-client), added by the relay from
   * the connection's HELLO on its way upstream; the upstream shows it per host. Agents never send it.
   */
  agent?: string;
}

export interface ServiceItem {
  key: string;
  data_type: DataType;
}

/** A plugin the agent runs. */
export interface Service {
  id?: Id;
  name: string;
  plugin: string;
  args?: string;
  exec_interval: number;
  items?: Record<string, ServiceItem> | null;
  /** v4: a cron expression (5 or 6 fields) to run on instead of every `exec_interval` seconds. */
  cron?: string;
}

/** 1 HOSTCONFIGRESP: the host and its services. */
export interface Host {
  id?: Id;
  uuid: string;
  assest_id?: Id;
  ip?: string;
  group?: string;
  proxy?: string;
  services?: Service[] | null;
}

/** 3 CLIENTVERSIONRESP. */
export interface ClientVersion {
  version: string;
}

/** 4 SERIESDATA: one v3 sample. `timestamp` is Unix seconds; `flag: 1` marks a metric not yet in the service's items. */
export interface SeriesData {
  uuid: string;
  ip?: string;
  group?: string;
  timestamp: number;
  service_name?: string;
  metric: string;
  value: number;
  flag?: number;
}

/** 5 GETDEVICES and 7 GETPORTS: a v3 proxy names itself by IP. */
export interface ProxyQuery {
  proxy: string;
}

export interface Interface {
  id?: Id;
  index?: number;
  name?: string;
  status?: number;
  mac?: string;
  speed?: number;
}

export interface CustomOid {
  id?: Id;
  name: string;
  oid: string;
}

export interface NetDevice {
  id?: Id;
  uuid?: string;
  ip: string;
  proxy?: string;
  snmp_version?: string;
  snmp_community?: string;
  snmp_port?: number;
  update_interval?: number;
  check_interval?: number;
  interfaces?: Record<string, Interface> | null;
  custom_oids?: Record<string, CustomOid> | null;
}

/** A TCP port on a host; status 0 = up, 1 = down. */
export interface Port {
  id?: Id;
  ip?: string;
  port: number;
  proc_name?: string;
  status?: number;
}

/** 11 PORTDISCOVERYR: listening ports found on a host. */
export interface PortDiscovery {
  uuid: string;
  ports: Port[] | null;
}

export interface Cpu {
  id?: Id;
  assest_id?: Id;
  name?: string;
  sn?: string;
  model?: string;
  vender?: string;
}
export interface Memory {
  sn?: string;
  size?: string | number;
  speed?: string | number;
  locator?: string;
  vender?: string;
}
export interface Disk {
  sn?: string;
  vender?: string;
  product_id?: string;
  slot?: string;
  production_date?: string;
  capacity?: string | number;
  speed?: string | number;
  bus?: string;
  media?: string;
}
export interface Nic {
  name?: string;
  mac?: string;
  vender?: string;
  description?: string;
}

/** 12 ASSESTDISCOVERY: hardware inventory. */
export interface AssetDiscovery {
  uuid: string;
  sn?: string;
  unit?: string | number;
  vender?: string;
  model?: string;
  cpus?: Cpu[] | null;
  memorys?: Memory[] | null;
  disks?: Disk[] | null;
  nics?: Nic[] | null;
}

/** 13 HOSTHB; empty (null) when an agent sends it to its watchdog. */
export interface HostHeartbeat {
  uuid: string;
}

/** One sample of a SERIESBATCH. Exactly one of `timestamp` (s) and `timestamp_ms` is required. */
export interface BatchSample {
  uuid?: string;
  ip?: string;
  service_name?: string;
  metric: string;
  value: number;
  timestamp?: number;
  timestamp_ms?: number;
  data_type?: DataType;
  tags?: Record<string, string>;
  flag?: number;
}

/**
 * 15 SERIESBATCH: many samples, sequenced. `seq` increases by one per batch
 * within `session`; the receiver ACKs it once durable. `uuid`/`ip` apply to
 * every sample that does not carry its own.
 */
export interface SeriesBatch {
  session: string;
  seq: number;
  uuid?: string;
  ip?: string;
  samples: BatchSample[];
}

/** 16 ACK: `seq` of `session` is durable at the receiver. `duplicate` when it had been stored before. */
export interface Ack {
  session: string;
  seq: number;
  duplicate?: boolean;
}

/** 17 ERROR: sent before closing on bad input. `code` is an OWL_ERR_* code. */
export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
}

/** 18 HELLO: first packet of a v4 peer; the receiver answers with its own HELLO (no token). */
export interface Hello {
  version: number;
  features?: string[];
  uuid?: string;
  token?: string;
  agent?: string;
}

/** 19 FWCHECK, agent → relay: the agent's firmware state, and "is there a bundle for me?". */
export interface FirmwareCheck {
  program: 'owl-agent';
  arch: string;
  /** The running version: the slot's when running from slots. */
  version: string;
  /** The update state (firmware/slots update.json), or `none` when not running from slots. */
  state: string;
  pendingVersion?: string;
  download?: { bundle: string; version: string; bytes: number; size: number };
  lastFailure?: { code: string; reason: string; version: string; at: number };
  refused?: { bundle?: string; version?: string; code: string; message: string; at: number };
}

/** 20 FWOFFER, relay → agent: the bundle for this agent (complete in the relay's cache), or null. */
export interface FirmwareOfferBody {
  bundle: { id: string; version: string; size: number } | null;
}

/** 21 FWCHUNKREQ, agent → relay: bytes [offset, offset + length) of a cached bundle. */
export interface FirmwareChunkRequest {
  id: number;
  bundle: string;
  offset: number;
  /** 1..AGENT_FIRMWARE_MAX_CHUNK_BYTES. */
  length: number;
}

/** 22 FWCHUNK, relay → agent: `data` (base64; shorter than asked only at the end), or `code` and `message`. */
export interface FirmwareChunkBody {
  id: number;
  bundle: string;
  offset: number;
  data?: string;
  code?: string;
  message?: string;
}

/** Body type of each packet type. */
export interface PacketBodies {
  [PacketType.HOSTCONFIG]: HostConfigRequest;
  [PacketType.HOSTCONFIGRESP]: Host;
  [PacketType.CLIENTVERSION]: null;
  [PacketType.CLIENTVERSIONRESP]: ClientVersion;
  [PacketType.SERIESDATA]: SeriesData;
  [PacketType.GETDEVICES]: ProxyQuery;
  [PacketType.GETDEVICESRESP]: NetDevice[] | null;
  [PacketType.GETPORTS]: ProxyQuery;
  [PacketType.GETPORTSRESP]: Port[] | null;
  [PacketType.UPDATEDEVICES]: NetDevice[] | null;
  [PacketType.UPDATEPORTS]: Port[] | null;
  [PacketType.PORTDISCOVERYR]: PortDiscovery;
  [PacketType.ASSESTDISCOVERY]: AssetDiscovery;
  [PacketType.HOSTHB]: HostHeartbeat | null;
  [PacketType.GUARDHB]: null;
  [PacketType.SERIESBATCH]: SeriesBatch;
  [PacketType.ACK]: Ack;
  [PacketType.ERROR]: ErrorBody;
  [PacketType.HELLO]: Hello;
  [PacketType.FWCHECK]: FirmwareCheck;
  [PacketType.FWOFFER]: FirmwareOfferBody;
  [PacketType.FWCHUNKREQ]: FirmwareChunkRequest;
  [PacketType.FWCHUNK]: FirmwareChunkBody;
}

/** A validated packet: its type and its typed body. */
export type Packet = { [T in PacketType]: { type: T; body: PacketBodies[T] } }[PacketType];
