/**
 * What an agent connection needs from the rest of the relay (the sink, the
 * options) and what it hands over (spool requests). Kept apart from
 * AgentConnection so the relay, the upstream and the packer can name the
 * contract without importing the connection's machinery.
 */
import type {
  FirmwareCheck,
  FirmwareChunkRequest,
  Host,
  HostConfigRequest,
  NetDevice,
  OwlError,
  PacketParser,
  Port,
  Timers,
} from '../protocol/index.js';
import type { AccessPolicy } from './access.js';
import type { AgentConnection } from './agent-connection.js';
import type { BatchDedupe } from './dedupe.js';
import type { IngestGate } from './ingest-gate.js';
import type { SpoolRefusals } from './refusals.js';

/** A packet to spool: the agent packet's JSON body exactly as received. */
export interface SpoolRequest {
  type: number;
  body: Buffer;
  samples: number;
  source: string;
  /** The agent's UUID when known (HELLO, or the packet itself). */
  uuid: string;
  /**
   * When set, `body` is that many consecutive frames of `type`, headers
   * included, as they arrived in one socket read (PackedPacket.frames).
   */
  frames?: number;
}

/** What a connection needs from the rest of the relay. */
export interface AgentSink {
  /**
   * Spool packets (those of one socket read). Called in arrival order; resolves once all are
   * durable. `release`, when given, must be called once the packets' bytes are no longer read.
   */
  spool(requests: SpoolRequest[], release?: () => void): Promise<void>;
  /** Config for a host: from the cache at once when known (a refresh is asked upstream either way). */
  hostConfig(request: HostConfigRequest, source: string): Promise<Host | null>;
  /** Latest agent version, if known. */
  clientVersion(): string | null;
  /**
   * GETDEVICES / GETPORTS from a v3 proxy (td-proxy) talking to an upstream:
   * the zone's items, or null when `source` is not a known proxy. Absent on a relay.
   */
  zoneItems?(what: 'devices' | 'ports', source: string): NetDevice[] | Port[] | null;
  /** Track which connection serves a host, so config pushes reach it. */
  attach(uuid: string, connection: AgentConnection): void;
  detach(uuid: string, connection: AgentConnection): void;
  /**
   * Firmware for v4 agents (packets 19–22, relay/firmware/): present, the relay lists the
   * `firmware` feature in its HELLO. Absent on the upstream's direct agent server.
   */
  firmware?: AgentFirmwareSink;
}

/** Where an agent connection's firmware packets go. */
export interface AgentFirmwareSink {
  /** FWCHECK from the agent whose HELLO named `uuid`: answered with FWOFFER, reported upstream. */
  check(connection: AgentConnection, uuid: string, body: FirmwareCheck): void;
  /** FWCHUNKREQ: answered with FWCHUNK. */
  chunkRequest(connection: AgentConnection, body: FirmwareChunkRequest): void;
  /** The connection closed. */
  closed(connection: AgentConnection): void;
}

export interface AgentConnectionOptions {
  parser: PacketParser;
  access: AccessPolicy;
  dedupe: BatchDedupe;
  sink: AgentSink;
  /** Close a connection that completes no frame for this long. */
  idleTimeoutMs: number;
  /** Pause reading while this many packets of the connection await durability. */
  maxPendingPackets: number;
  /** Cut off a peer that lets this many unsent bytes pile up (it does not read). */
  maxWriteBacklogBytes: number;
  /** Relay-wide cap on bytes awaiting durability; every connection pauses while it is closed. */
  gate?: IngestGate;
  /** Told of connections closed because the spool refused their packets; else they go to `onError`. */
  refusals?: SpoolRefusals;
  /** Grace period for the peer to read our ERROR before the socket is destroyed. */
  closeGraceMs?: number;
  /** Timers of the idle timeout and the close grace (default SYSTEM_TIMERS). */
  timers?: Timers;
  onError?: (connection: AgentConnection, error: OwlError) => void;
}
