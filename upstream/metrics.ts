/**
 * The upstream's Prometheus metrics, named `owl_upstream_<noun>_<unit>[_total]` (a `_total` is
 * always a counter). Counters are bumped where things happen (relay-endpoint.ts, server.ts);
 * gauges read live state when scraped: relays connected, and each connected relay's lag as its
 * last RELAY_STATUS said. Process/Node default metrics go to this upstream's own registry, not
 * the global one: `owl-upstream local` runs a relay and an upstream in one process.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BatchAckStatus, OWL_VERSION, type UplinkRelayStatus } from '../protocol/index.js';
import { collectProcessMetrics, listenHealthAndMetrics, type Readiness } from '../relay/index.js';
import type { ForwardStats } from './store/index.js';

/** Store write latency buckets, seconds: an fdatasync is ~1 ms on SSD, tens of ms on SD cards. */
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the gauges read at each scrape. */
export interface UpstreamGaugeSources {
  /** Relays connected (past the upgrade), with their last RELAY_STATUS if any came. */
  relays(): { id: string; status: UplinkRelayStatus | undefined }[];
  /** Direct agent connections. */
  agents(): number;
  /** The store's forwarding figures (undefined: no sinks). */
  forward?(): Promise<ForwardStats | undefined>;
  /** The latest firmware report of every relay and agent: program and update state. */
  firmwareUnits?(): { program: string; state: string }[];
}

export class UpstreamMetrics {
  readonly registry = new Registry();
  /** Samples stored (points written), by zone: a relay's id, or the zone of direct agents. */
  readonly samples: Counter<'zone'>;
  /** Batch acknowledgements sent to relays, by status (stored, duplicate, rejected). */
  readonly batches: Counter<'status'>;
  readonly storeWrites: Histogram;
  readonly storeWriteFailures: Counter;
  /** Samples a sink accepted. */
  readonly sinkSamples: Counter<'sink'>;
  /** Failed sends to a sink, by HTTP status or 'network' / 'timeout'. */
  readonly sinkFailures: Counter<'sink' | 'status'>;
  /** Bundle bytes sent to relays in FIRMWARE_CHUNKs. */
  readonly firmwareBytes: Counter<'relay'>;
  /** Chunk requests answered with FIRMWARE_ERROR, by code. */
  readonly firmwareErrors: Counter<'code'>;
  private server: Server | undefined;

  constructor(sources: UpstreamGaugeSources) {
    const r = [this.registry];
    this.samples = new Counter({
      name: 'owl_upstream_ingest_samples_total',
      help: 'Samples stored, by zone (a relay id, or the zone of direct agents)',
      labelNames: ['zone'],
      registers: r,
    });
    this.batches = new Counter({
      name: 'owl_upstream_uplink_batches_total',
      help: 'Relay batches acknowledged, by status: stored, duplicate (stored before), rejected (does not open)',
      labelNames: ['status'],
      registers: r,
    });
    this.storeWrites = new Histogram({
      name: 'owl_upstream_store_write_seconds',
      help: 'Synced store writes (samples and their metadata), from submit to durable',
      buckets: WRITE_BUCKETS,
      registers: r,
    });
    this.storeWriteFailures = new Counter({
      name: 'owl_upstream_store_write_failures_total',
      help: 'Store writes that failed (the batches are not acknowledged; relays resend them)',
      registers: r,
    });
    this.sinkSamples = new Counter({
      name: 'owl_upstream_sink_samples_total',
      help: 'Samples a sink accepted',
      labelNames: ['sink'],
      registers: r,
    });
    this.sinkFailures = new Counter({
      name: 'owl_upstream_sink_failures_total',
      help: "Failed sends to a sink, by HTTP status or 'network' / 'timeout' (each retry counts)",
      labelNames: ['sink', 'status'],
      registers: r,
    });
    this.firmwareBytes = new Counter({
      name: 'owl_upstream_firmware_sent_bytes_total',
      help: "Firmware bundle bytes sent to relays (FIRMWARE_CHUNK data), and to direct agents (relay 'direct')",
      labelNames: ['relay'],
      registers: r,
    });
    this.firmwareErrors = new Counter({
      name: 'owl_upstream_firmware_chunk_errors_total',
      help: 'Firmware chunk requests refused (FIRMWARE_ERROR), by code',
      labelNames: ['code'],
      registers: r,
    });
    registerGauges(r, sources);
    registerSinkGauges(r, sources);
    registerFirmwareGauge(r, sources);
    new Gauge({
      name: 'owl_upstream_build_info',
      help: 'Always 1; the labels say which upstream version runs on which Node',
      labelNames: ['version', 'node'],
      registers: r,
    }).set({ version: OWL_VERSION, node: process.versions.node }, 1);
    collectProcessMetrics(this.registry);
  }

  /** A BATCH_ACK sent. */
  acked(status: BatchAckStatus): void {
    this.batches.inc({ status: ackStatusName(status) });
  }

  /** Serve `/metrics`, `/healthz` and `/readyz` on host:port; resolves with the bound address. */
  async listen(host: string, port: number, ready: () => Promise<Readiness>): Promise<AddressInfo> {
    this.server = await listenHealthAndMetrics(this.registry, host, port, ready);
    return this.server.address() as AddressInfo;
  }

  get address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Connected relays and agents, and each relay's lag from its last RELAY_STATUS. */
function registerGauges(r: Registry[], sources: UpstreamGaugeSources): void {
  new Gauge({
    name: 'owl_upstream_relays_connected',
    help: 'Relay uplink connections open',
    registers: r,
    collect() {
      this.set(sources.relays().length);
    },
  });
  new Gauge({
    name: 'owl_upstream_agents_connected',
    help: 'Direct agent connections open (v3 agents and proxies without a relay)',
    registers: r,
    collect() {
      this.set(sources.agents());
    },
  });
  const perRelay = (name: string, help: string, read: (s: UplinkRelayStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['relay'],
      registers: r,
      collect() {
        // Only connected relays: a relay that left takes its series with it.
        this.reset();
        for (const { id, status } of sources.relays()) {
          if (status !== undefined) this.set({ relay: id }, read(status));
        }
      },
    });
  };
  perRelay(
    'owl_upstream_relay_lag_seconds',
    'Age of the oldest record a relay has not delivered (0: none), as of its last RELAY_STATUS',
    (s) => (s.spool.oldestAgeMs ?? 0) / 1000,
  );
  perRelay(
    'owl_upstream_relay_backlog_bytes',
    "Bytes in a relay's spool not yet acknowledged, as of its last RELAY_STATUS",
    (s) => s.spool.bytes,
  );
  perRelay(
    'owl_upstream_relay_backlog_records',
    "Records in a relay's spool not yet acknowledged, as of its last RELAY_STATUS",
    (s) => s.spool.records,
  );
}

/** Each sink's lag and what the forwarding log's byte cap dropped for it, read from the store at scrape. */
function registerSinkGauges(r: Registry[], sources: UpstreamGaugeSources): void {
  const read = sources.forward;
  if (read === undefined) return;
  new Gauge({
    name: 'owl_upstream_sink_lag_seconds',
    help: 'Age of the oldest stored record a sink has not accepted (0: none)',
    labelNames: ['sink'],
    registers: r,
    async collect() {
      for (const s of (await read())?.perSink ?? []) this.set({ sink: s.name }, s.oldestAgeMs / 1000);
    },
  });
  new Gauge({
    name: 'owl_upstream_sink_lag_records',
    help: 'Stored records (group commits) a sink has not accepted',
    labelNames: ['sink'],
    registers: r,
    async collect() {
      for (const s of (await read())?.perSink ?? []) this.set({ sink: s.name }, s.lagRecords);
    },
  });
  new Counter({
    name: 'owl_upstream_sink_dropped_records_total',
    help: "Records a sink never got: the forwarding log's byte cap (policy drop-oldest) moved it past them",
    labelNames: ['sink'],
    registers: r,
    async collect() {
      // The store counts since open, as this process does.
      this.reset();
      for (const s of (await read())?.perSink ?? []) this.inc({ sink: s.name }, s.droppedRecords);
    },
  });
}

/** Relays and agents by program and update state, from their latest firmware reports. */
function registerFirmwareGauge(r: Registry[], sources: UpstreamGaugeSources): void {
  const read = sources.firmwareUnits;
  if (read === undefined) return;
  new Gauge({
    name: 'owl_upstream_firmware_units',
    help: 'Relays and agents by program and firmware update state, as their latest report said',
    labelNames: ['program', 'state'],
    registers: r,
    collect() {
      this.reset();
      const counts = new Map<string, { program: string; state: string; n: number }>();
      for (const { program, state } of read()) {
        const k = `${program}\0${state}`;
        const c = counts.get(k) ?? { program, state, n: 0 };
        c.n++;
        counts.set(k, c);
      }
      for (const c of counts.values()) this.set({ program: c.program, state: c.state }, c.n);
    },
  });
}

/** A BATCH_ACK status as a metric label (the relay's owl_relay_uplink_acked_samples_total uses the same). */
function ackStatusName(status: BatchAckStatus): string {
  if (status === BatchAckStatus.STORED) return 'stored';
  return status === BatchAckStatus.DUPLICATE ? 'duplicate' : 'rejected';
}
