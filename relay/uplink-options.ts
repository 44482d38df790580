/** What the relay's uplink (uplink-client.ts) is told at construction: its settings and the hooks it calls. */
import type {
  BatchAckStatus,
  Host,
  NetDevice,
  Port,
  Timers,
  UplinkMessage,
  UplinkRelayStatus,
} from '../protocol/index.js';
import type { BackoffOptions } from './backoff.js';
import type { Spool } from './spool/index.js';
import type { StuckRange } from './uplink-stuck.js';

export type UplinkState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface UplinkLogger {
  /** Each attempt's lines (optional: a logger without it drops them). */
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface UplinkClientOptions {
  relayId: string;
  token: string;
  /** Upstream URLs, tried in turn. */
  urls: string[];
  spool: Spool;
  /** TLS material for wss:// (PEM). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  batch: {
    maxRecords: number;
    maxBytes: number;
    /** Most samples in one batch (the upstream's WELCOME maxBatchSamples may lower it). */
    maxSamples?: number;
    lingerMs: number;
    compress: boolean;
    level?: number;
  };
  backoff?: BackoffOptions;
  /** Slow-reconnect delay after an authentication or protocol refusal. */
  slowRetryMs?: number;
  /** Period of the outage summary line while the upstream is unreachable (default 60 s). */
  summaryMs?: number;
  /** Period of the backlog drain progress line (default 10 s). */
  drainProgressMs?: number;
  /** How long a config request waits for its answer. */
  requestTimeoutMs?: number;
  /** How long a config request made while disconnected waits for the uplink to connect (default 30 s). */
  requestHoldMs?: number;
  /** Period of RELAY_STATUS messages. */
  statusIntervalMs?: number;
  /** Bytes of just-appended records kept in memory for live batches (default 16 MiB). */
  tailBytes?: number;
  /** Told whether live data waits beyond `liveLagBytes` while connected (the relay then holds intake). */
  onLiveLag?: (behind: boolean) => void;
  /** Unsent live bytes past which the uplink counts as behind (default 8 MiB). */
  liveLagBytes?: number;
  /** Most bytes queued on the socket before data batches wait. */
  maxBufferedBytes?: number;
  status: () => UplinkRelayStatus;
  /** CONFIG_PUSH: a host's new config, or null when the upstream says to forget it. */
  onConfigPush: (uuid: string, host: Host | null) => void;
  /**
   * What the upstream answered about a host, called in message order with the
   * pushes and before the request settles: HOSTCONFIG_RESP (its host, or null),
   * and null for CONFIG_ERROR OWL_ERR_FORBIDDEN_ZONE (the host is another zone's).
   * Also called for answers that arrive after their request timed out.
   */
  onHostAnswer?: (uuid: string, host: Host | null) => void;
  onVersion: (version: string) => void;
  /** INVENTORY_PUSH: the zone's whole device or port list, changed by an operator. */
  onInventoryPush?: (what: 'devices' | 'ports', items: NetDevice[] | Port[]) => void;
  onBatchAck?: (status: BatchAckStatus, records: number, samples: number) => void;
  /**
   * Records (and their samples) of a batch acknowledged STORED or DUPLICATE that the spool had
   * dropped by a cap while the batch was in flight: its release did not find them. They were
   * delivered, though the spool counts them as dropped. Called once the release settled.
   */
  onDeliveredAfterDrop?: (records: number, samples: number) => void;
  /** A batch went out; `resent` when its first record was sent before (a retry after a reconnect). */
  onBatchSent?: (replay: boolean, records: number, samples: number, resent: boolean) => void;
  /** A seq range became stuck (the upstream failed to store it the same way twice), or no longer is. */
  onStuck?: (stuck: StuckRange | undefined) => void;
  /** WELCOME received: the uplink is up (after the pump and held requests were started). */
  onConnect?: (url: string) => void;
  /** A connection that had its WELCOME closed. */
  onDisconnect?: () => void;
  /**
   * FIRMWARE channel messages from the upstream (FIRMWARE_OFFER, FIRMWARE_CHUNK, FIRMWARE_ERROR).
   * Set, the relay lists the `firmware` feature in its HELLO.
   */
  onFirmware?: (
    msg: Extract<UplinkMessage, { type: 'FIRMWARE_OFFER' | 'FIRMWARE_CHUNK' | 'FIRMWARE_ERROR' }>,
  ) => void;
  log: UplinkLogger;
  now?: () => number;
  /** Clock and timers (default SYSTEM_TIMERS, with `now` if given). */
  timers?: Timers;
}
