/** The relay endpoint's settings and the state it keeps per relay connection (relay-endpoint.ts). */
import type { WebSocket } from 'ws';
import type {
  Heartbeat,
  TimerHandle,
  Timers,
  UplinkBatch,
  UplinkRelayStatus,
  UplinkSequencedRecord,
} from '../protocol/index.js';
import type { CreditLedger } from './credit-policy.js';
import type { StoredRanges } from './dedupe.js';
import type { IngestResult } from './ingest.js';
import type { UpstreamMetrics } from './metrics.js';
import type { Registry } from './registry.js';
import type { RelayDirectory } from './relays.js';
import type { SampleStore } from './store/index.js';

export interface EndpointLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RelayEndpointOptions {
  store: SampleStore;
  ranges: StoredRanges;
  registry: Registry;
  relays: RelayDirectory;
  log: EndpointLogger;
  /** Most unacknowledged batches one relay may have (its window when it is alone). */
  window: number;
  /** Unacknowledged batches across all relays, shared evenly (default DEFAULT_MAX_INFLIGHT_BATCHES). */
  maxInflightBatches?: number;
  /** The listener asks for client certificates: refuse upgrades without an authorized one. */
  requireClientCert?: boolean;
  heartbeatMs: number;
  maxBatchBytes?: number;
  /**
   * The store writes on another thread (WorkerSampleStore): store groups of
   * half a window, so one half is parsed while the other is written. With a
   * store that writes on this thread that only adds fsyncs, so it is off.
   */
  overlapWrites?: boolean;
  maxRelays?: number;
  /** Called after a batch is durable and before its ack is sent (crash tests kill the process here). */
  afterStore?: (relay: string, firstSeq: number, lastSeq: number) => void;
  /** Clock and timers (default SYSTEM_TIMERS). */
  timers?: Timers;
  /** Called after each store write is durable, with the seqs of the records it holds (crash tests). */
  afterWrite?: (relay: string, firstSeq: number, lastSeq: number) => void;
  /** Where samples stored, acks, store write latency and failures are counted. */
  metrics?: UpstreamMetrics;
}

export interface RelayState {
  id: string;
  connectedAtMs: number;
  remote: string;
  status: UplinkRelayStatus | undefined;
  /** The window last granted (WELCOME or CREDIT); 0 before HELLO. */
  window: number;
  batches: number;
  duplicates: number;
  rejected: number;
}

export interface Connection {
  ws: WebSocket;
  state: RelayState;
  spool: string | undefined;
  /** Set at HELLO: the batches in flight against the windows granted. */
  ledger: CreditLedger | undefined;
  queue: Promise<void>;
  /** Batches received and not yet handled. */
  pending: UplinkBatch[];
  /** Pending batches already opened and parsed while a store write was in flight (see `preparse`). */
  parsed: Map<UplinkBatch, { records: UplinkSequencedRecord[]; early: IngestResult }>;
  /** A store write of this connection is in flight. */
  writing: boolean;
  /** Until HELLO: the HELLO timeout. */
  timer: TimerHandle;
  /** From HELLO on: PINGs, and the drop of a silent relay. */
  heartbeat: Heartbeat | undefined;
  /** Set when the relay fell silent: the close is then logged as a heartbeat timeout. */
  silentMs: number | undefined;
}
