/**
 * Bodies of the uplink messages. JSON bodies list the fields OWL reads;
 * unknown fields are kept by the decoder and never rejected, so a newer peer
 * can add fields without breaking an older one. Sequence numbers are JS
 * numbers (safe integers): at a million records a second a relay needs 285
 * years to pass 2^53, and numbers keep RangeSet arithmetic cheap. The wire
 * keeps 64 bits for them; a value above 2^53-1 is rejected.
 */
import type { HostConfigRequest, Host, NetDevice, Port } from '../packets.js';
import type { UplinkMessageType } from './kinds.js';

/** An inclusive range of sequence numbers `[first, last]`. */
export type SeqRange = readonly [first: number, last: number];

/** CONTROL HELLO, relay → upstream, first message on a connection. */
export interface UplinkHello {
  /** Highest uplink version the relay speaks. */
  version: number;
  /** The relay id; must equal the one in the Authorization header. */
  relay: string;
  /** Id of the relay's spool, made once when the spool is created: sequence numbers are unique only within it. */
  spool: string;
  /** Optional features the relay supports (none are defined in version 1). */
  features: string[];
  /** Lowest sequence number not yet acknowledged; the relay never sends a lower one again. */
  firstUnacked: number;
  /** The sequence number the next record will get. */
  nextSeq: number;
}

/** CONTROL WELCOME, upstream → relay, answer to HELLO. */
export interface UplinkWelcome {
  /** Version used on this connection: at most HELLO's. */
  version: number;
  /** Initial credit: most unacknowledged batches the relay may have in flight. */
  window: number;
  /** Largest batch payload, in bytes before compression (sum of its records). */
  maxBatchBytes: number;
  /** Heartbeat period of both sides; a side that hears nothing for 3 × heartbeatMs closes with 4408. */
  heartbeatMs: number;
  /** HELLO features the upstream accepts. */
  features?: string[];
  /**
   * Most samples the upstream wants in one batch (optional; a relay that ignores it still gets
   * its batches stored, in several writes): keeps one batch within one store write and bounds
   * the upstream's memory per batch.
   */
  maxBatchSamples?: number;
}

/** CONTROL CREDIT, upstream → relay: the new window, effective at once (0 pauses batches). */
export interface UplinkCredit {
  window: number;
}

/** CONTROL PING / PONG, either side: `t` is the sender's clock in ms, echoed by PONG. */
export interface UplinkPing {
  t: number;
}

/** CONTROL ERROR, either side, just before a close: `code` is an OWL_ERR_* code. */
export interface UplinkErrorMessage {
  code: string;
  message: string;
  /** The seqs a failed store write held (upstream → relay, before close 4503): the relay slows down when one range keeps failing. */
  firstSeq?: number;
  lastSeq?: number;
}

/** Status byte of BATCH_ACK. */
export const BatchAckStatus = {
  /** Stored durably by this ack. */
  STORED: 0,
  /** Every record of the range had been stored before. */
  DUPLICATE: 1,
  /** Permanently bad (payload does not open); the relay drops it and counts it. */
  REJECTED: 2,
} as const;
export type BatchAckStatus = (typeof BatchAckStatus)[keyof typeof BatchAckStatus];

/** DATA BATCH, relay → upstream (binary). */
export interface UplinkBatch {
  /** Sequence number of the first record (present in the batch). */
  firstSeq: number;
  /** Sequence number of the last record (present in the batch). */
  lastSeq: number;
  /** Number of records in the payload. */
  records: number;
  /** Number of samples in those records (advisory: counted by the relay, not checked). */
  samples: number;
  /** Payload is raw deflate (flags bit 0). */
  compressed: boolean;
  /** Backlog replay rather than live data (flags bit 1). */
  replay: boolean;
  /** Numbers inside (firstSeq, lastSeq) this batch has no record for, ascending, not touching; empty when dense. */
  gaps: readonly SeqRange[];
  /** Concatenated records, deflated when `compressed`. A view into the received message after decode. */
  payload: Buffer;
}

/** DATA BATCH_ACK, upstream → relay (binary): the outcome of batch (firstSeq, lastSeq). */
export interface UplinkBatchAck {
  firstSeq: number;
  lastSeq: number;
  status: BatchAckStatus;
}

/** CONFIG HOSTCONFIG_REQ, relay → upstream: an agent's HOSTCONFIG. */
export interface UplinkHostConfigReq {
  /** Request id, unique among the relay's outstanding requests. */
  id: number;
  /** The host the relay vouches for: a v4 agent's HELLO uuid, else `request.uuid`. */
  uuid: string;
  /** The v3 HOSTCONFIG body, as the agent sent it. */
  request: HostConfigRequest;
  /** The agent's source address (`ip:port`). */
  source: string;
}

/** CONFIG HOSTCONFIG_RESP, upstream → relay: the host's config, or null when the upstream has none. */
export interface UplinkHostConfigResp {
  id: number;
  uuid: string;
  host: Host | null;
}

/** CONFIG CONFIG_PUSH, upstream → relay: a host's config changed upstream (null: host deleted, drop the cache). */
export interface UplinkConfigPush {
  uuid: string;
  host: Host | null;
}

/** CONFIG VERSION_REQ, relay → upstream: latest agent version, for CLIENTVERSION. */
export interface UplinkVersionReq {
  id: number;
  platform?: string;
}

/** CONFIG VERSION_RESP, upstream → relay. */
export interface UplinkVersionResp {
  id: number;
  version: string;
  platform?: string;
}

/** CONFIG INVENTORY_REQ, relay → upstream: what this relay's zone must poll, by the relay's identity. */
export interface UplinkInventoryReq {
  id: number;
  what: 'devices' | 'ports';
}

/** CONFIG INVENTORY_RESP, upstream → relay: the zone's network devices or host ports. */
export type UplinkInventoryResp =
  { id: number; what: 'devices'; items: NetDevice[] } | { id: number; what: 'ports'; items: Port[] };

/** CONFIG INVENTORY_PUSH, upstream → relay: the zone's devices or ports changed; here is the whole list. */
export type UplinkInventoryPush = { what: 'devices'; items: NetDevice[] } | { what: 'ports'; items: Port[] };

/** CONFIG CONFIG_ERROR, upstream → relay: request `id` failed upstream; the relay keeps its cache and retries later. */
export interface UplinkConfigError {
  id: number;
  code: string;
  message: string;
}

/** STATUS RELAY_STATUS, relay → upstream, periodic. */
export interface UplinkRelayStatus {
  /** Relay software version. */
  version: string;
  /** Agents connected now. */
  agents: number;
  spool: {
    records: number;
    bytes: number;
    /** Age of the oldest unacknowledged record in ms, null when the spool is empty. */
    oldestAgeMs: number | null;
    /** As in HELLO: the upstream may mark every lower number stored (compacts its RangeSet). */
    firstUnacked: number;
    /** As in HELLO. */
    nextSeq: number;
  };
  /** Records dropped since start, by reason (e.g. `spoolCap`, `rejected`, `invalid`). */
  dropped: Record<string, number>;
  /** Relay clock (Unix ms) when the status was taken. */
  t?: number;
}

/**
 * A bundle the upstream offers (FIRMWARE_OFFER). owl-relay: one per arch, the newest published for
 * the zone that the relay is in the rollout of. owl-agent: per arch, newest first, down to the
 * newest published to every agent; each agent takes the newest it is in the rollout of.
 */
export interface FirmwareOffer {
  /** sha256 of the bundle file, 64 lowercase hex digits: its id everywhere. */
  bundle: string;
  program: 'owl-relay' | 'owl-agent';
  arch: 'amd64' | 'arm64';
  version: string;
  /** Size of the bundle file in bytes. */
  size: number;
  /**
   * Share of the units that take it, 1–100 (`inRollout`). The upstream applies it to relays
   * before offering; a relay applies it to each of its agents by uuid.
   */
  percent: number;
}

/** FIRMWARE FIRMWARE_OFFER, upstream → relay: the whole list for this relay, replacing any earlier one. */
export interface UplinkFirmwareOffer {
  bundles: FirmwareOffer[];
}

/** FIRMWARE FIRMWARE_CHUNK_REQ, relay → upstream: bytes [offset, offset + length) of a bundle. */
export interface UplinkFirmwareChunkReq {
  /** Request id, echoed by FIRMWARE_CHUNK or FIRMWARE_ERROR. */
  id: number;
  bundle: string;
  offset: number;
  /** 1..FIRMWARE_MAX_CHUNK_BYTES. */
  length: number;
}

/** FIRMWARE FIRMWARE_CHUNK, upstream → relay (binary): the bytes from `offset`; shorter than asked only at the end of the file. */
export interface UplinkFirmwareChunk {
  id: number;
  offset: number;
  /** A view into the received message after decode. */
  data: Buffer;
}

/** FIRMWARE FIRMWARE_ERROR, upstream → relay: chunk request `id` failed (e.g. OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE). */
export interface UplinkFirmwareError {
  id: number;
  bundle: string;
  code: string;
  message: string;
}

/** An update failure or refusal, as a relay or agent reports it. */
export interface FirmwareFailureReport {
  code: string;
  reason: string;
  /** The version that failed. */
  version: string;
  /** Unix ms. */
  at: number;
}

/** A bundle refused before install (a FirmwareErrorCode), as a relay or agent reports it. */
export interface FirmwareRefusalReport {
  bundle?: string;
  version?: string;
  code: string;
  message: string;
  at: number;
}

/** The firmware state of one relay or agent, as the relay reports it upstream (an agent's comes from its FWCHECK). */
export interface FirmwareUnitReport {
  program: 'owl-relay' | 'owl-agent';
  /** The agent's host uuid; absent for the relay itself. */
  uuid?: string;
  /** The running version: the slot's when running from slots. */
  version: string;
  arch?: string;
  /** The update state (firmware/slots update.json), or `none` when not running from slots. */
  state: string;
  /** The version being installed or on trial. */
  pendingVersion?: string;
  download?: { bundle: string; version: string; bytes: number; size: number };
  lastFailure?: FirmwareFailureReport;
  refused?: FirmwareRefusalReport;
  /** The reporter's clock, Unix ms. */
  t: number;
}

/** FIRMWARE FIRMWARE_REPORT, relay → upstream: after WELCOME every unit it knows, later only those that changed. */
export interface UplinkFirmwareReport {
  units: FirmwareUnitReport[];
}

/** Body type of every message type. */
export interface UplinkBodies {
  HELLO: UplinkHello;
  WELCOME: UplinkWelcome;
  CREDIT: UplinkCredit;
  PING: UplinkPing;
  PONG: UplinkPing;
  ERROR: UplinkErrorMessage;
  BATCH: UplinkBatch;
  BATCH_ACK: UplinkBatchAck;
  HOSTCONFIG_REQ: UplinkHostConfigReq;
  HOSTCONFIG_RESP: UplinkHostConfigResp;
  CONFIG_PUSH: UplinkConfigPush;
  VERSION_REQ: UplinkVersionReq;
  VERSION_RESP: UplinkVersionResp;
  INVENTORY_REQ: UplinkInventoryReq;
  INVENTORY_RESP: UplinkInventoryResp;
  INVENTORY_PUSH: UplinkInventoryPush;
  CONFIG_ERROR: UplinkConfigError;
  RELAY_STATUS: UplinkRelayStatus;
  FIRMWARE_OFFER: UplinkFirmwareOffer;
  FIRMWARE_CHUNK_REQ: UplinkFirmwareChunkReq;
  FIRMWARE_CHUNK: UplinkFirmwareChunk;
  FIRMWARE_ERROR: UplinkFirmwareError;
  FIRMWARE_REPORT: UplinkFirmwareReport;
}

/** The uplink message of type T. */
export interface UplinkMessageOf<T extends UplinkMessageType> {
  type: T;
  body: UplinkBodies[T];
}

/** Any uplink message: switch on `type` to narrow `body`. */
export type UplinkMessage = { [T in UplinkMessageType]: UplinkMessageOf<T> }[UplinkMessageType];
