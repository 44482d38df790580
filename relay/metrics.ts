/**
 * Prometheus metrics, named `owl_relay_<noun>_<unit>[_total]`. Gauges read
 * live state when scraped; counters are bumped where things happen, or read
 * from a figure that only grows. A `_total` is always a counter. The
 * process/Node default metrics go to this relay's own registry, not the
 * global one: `owl-upstream local` runs a relay and an upstream in one
 * process. The HTTP endpoint (on by default, on loopback) also answers
 * `/healthz` and `/readyz` (relay-readiness in `relayReadiness`).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Spool, SpoolStats } from './spool/index.js';
import type { StuckRange } from './uplink-client.js';
import type { RelayFirmwareStatus } from './firmware/index.js';
import {
  collectProcessMetrics,
  listenHealthAndMetrics,
  probe,
  readiness,
  type Readiness,
} from './health-http.js';

/** Without the uplink, the relay is ready while its spool is below this share of its byte cap, */
const SPOOL_READY_SHARE = 0.9;
/** and its caps refused or dropped nothing for this long. */
const CAP_RECENT_MS = 30_000;

/** Figures the relay reports; the same ones `owl-relay status` prints. */
export interface RelayStatus {
  spool: {
    records: number;
    samples: number;
    bytes: number;
    diskBytes: number;
    oldestAgeMs: number;
    /** Removed by the spool's cap policy and never delivered upstream (drop-count.ts). */
    droppedSamples: number;
    droppedRecords: number;
  };
  uplink: {
    state: 'connected' | 'connecting' | 'disconnected';
    url: string | null;
    inFlight: number;
    window: number;
    /** Age of the oldest record not yet acknowledged by the upstream (0 when none). */
    oldestUnackedAgeMs: number;
    /** The seq range the upstream keeps failing to store, while it is stuck (retried slowly). */
    stuck: StuckRange | null;
  };
  agents: { connected: number };
  /** Zone duties (zone-duties.ts): devices polled, those that answered their last poll, polls skipped (overran). */
  zone: { devices: number; devicesUp: number; skippedPolls: number };
  /** Firmware delivery (relay/firmware/): running version, update state, the download, the cache. */
  firmware: RelayFirmwareStatus;
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly framesReceived: Counter<'type'>;
  readonly agentErrors: Counter<'code'>;
  readonly connectionsRejected: Counter<'reason'>;
  readonly agentPacketsDropped: Counter<'code'>;
  readonly connectionsEvicted: Counter;
  readonly batchesSent: Counter<'kind'>;
  readonly samplesSent: Counter;
  readonly samplesResent: Counter;
  readonly samplesAcked: Counter<'status'>;
  readonly stuckRanges: Counter;
  readonly batchesAcked: Counter<'status'>;
  readonly uplinkConnects: Counter;
  readonly firmwareBytesFetched: Counter;
  readonly firmwareRefusals: Counter<'code'>;
  readonly firmwareBytesServed: Counter;
  private server: Server | undefined;

  /** `version`: what runs (the current slot's when running from slots). */
  constructor(status: () => RelayStatus, version: string) {
    const r = [this.registry];
    this.framesReceived = new Counter({
      name: 'owl_relay_agent_frames_total',
      help: 'Frames received from agents',
      labelNames: ['type'],
      registers: r,
    });
    this.agentPacketsDropped = new Counter({
      name: 'owl_relay_agent_packets_dropped_total',
      help: 'v3 packets with bad content dropped (their connection went on)',
      labelNames: ['code'],
      registers: r,
    });
    this.connectionsEvicted = new Counter({
      name: 'owl_relay_agent_connections_evicted_total',
      help: 'Idle agent connections closed to admit a new one from the same address',
      registers: r,
    });
    this.agentErrors = new Counter({
      name: 'owl_relay_agent_errors_total',
      help: 'Agent connections closed on a coded error',
      labelNames: ['code'],
      registers: r,
    });
    this.connectionsRejected = new Counter({
      name: 'owl_relay_agent_connections_rejected_total',
      help: 'Agent connections refused at accept',
      labelNames: ['reason'],
      registers: r,
    });
    this.batchesSent = new Counter({
      name: 'owl_relay_uplink_batches_total',
      help: 'Batches sent upstream',
      labelNames: ['kind'],
      registers: r,
    });
    this.samplesSent = new Counter({
      name: 'owl_relay_uplink_samples_total',
      help: 'Samples sent upstream for the first time (resends are counted apart)',
      registers: r,
    });
    this.samplesResent = new Counter({
      name: 'owl_relay_uplink_resent_samples_total',
      help: 'Samples sent upstream again (their batch was unacknowledged when a connection ended)',
      registers: r,
    });
    this.samplesAcked = new Counter({
      name: 'owl_relay_uplink_acked_samples_total',
      help: 'Samples the upstream acknowledged, by ack status (stored, duplicate, rejected)',
      labelNames: ['status'],
      registers: r,
    });
    this.stuckRanges = new Counter({
      name: 'owl_relay_uplink_stuck_total',
      help: 'Times a seq range became stuck: the upstream failed to store it the same way twice',
      registers: r,
    });
    this.batchesAcked = new Counter({
      name: 'owl_relay_uplink_acks_total',
      help: 'Batch acknowledgements from upstream',
      labelNames: ['status'],
      registers: r,
    });
    this.uplinkConnects = new Counter({
      name: 'owl_relay_uplink_connects_total',
      help: 'Uplink connections established',
      registers: r,
    });
    this.firmwareBytesFetched = new Counter({
      name: 'owl_relay_firmware_bytes_fetched_total',
      help: 'Firmware bundle bytes fetched over the uplink',
      registers: r,
    });
    this.firmwareRefusals = new Counter({
      name: 'owl_relay_firmware_refusals_total',
      help: 'Firmware bundles refused, by code',
      labelNames: ['code'],
      registers: r,
    });
    this.firmwareBytesServed = new Counter({
      name: 'owl_relay_firmware_bytes_served_total',
      help: 'Firmware bundle bytes served to agents',
      registers: r,
    });
    registerStatusGauges(r, status);
    new Gauge({
      name: 'owl_relay_build_info',
      help: 'Always 1; the labels say which relay version runs on which Node',
      labelNames: ['version', 'node'],
      registers: r,
    }).set({ version, node: process.versions.node }, 1);
    collectProcessMetrics(this.registry);
  }

  /**
   * Serve `/metrics`, `/healthz` and `/readyz` on host:port; resolves with the bound address.
   * Readiness comes from `health` (the spool and the uplink); without it the relay is always ready.
   */
  async listen(host: string, port: number, health?: RelayHealthSources): Promise<AddressInfo> {
    const ready =
      health === undefined ? async (): Promise<Readiness> => readiness({}) : relayReadiness(health);
    this.server = await listenHealthAndMetrics(this.registry, host, port, ready);
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    // A scraper's keep-alive connection would hold the close until it idles out.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Gauges read from the relay's status at each scrape: spool, agents, uplink. */
function registerStatusGauges(r: Registry[], status: () => RelayStatus): void {
  const gauge = (name: string, help: string, read: (s: RelayStatus) => number): void => {
    new Gauge({
      name,
      help,
      registers: r,
      collect() {
        this.set(read(status()));
      },
    });
  };
  gauge('owl_relay_spool_records', 'Records in the spool', (s) => s.spool.records);
  gauge('owl_relay_spool_samples', 'Samples in the spool', (s) => s.spool.samples);
  gauge('owl_relay_spool_bytes', 'Logical bytes in the spool', (s) => s.spool.bytes);
  gauge('owl_relay_spool_disk_bytes', 'Bytes the spool takes on disk', (s) => s.spool.diskBytes);
  gauge(
    'owl_relay_spool_oldest_age_seconds',
    'Age of the oldest spooled record',
    (s) => s.spool.oldestAgeMs / 1000,
  );
  // Counters read from status: the dropped figures only grow (drop-count.ts); a restart may
  // start them above 0 (the spool's own counts persist), which Prometheus takes as a reset.
  const counter = (name: string, help: string, read: (s: RelayStatus) => number): void => {
    new Counter({
      name,
      help,
      registers: r,
      collect() {
        this.reset();
        this.inc(read(status()));
      },
    });
  };
  counter(
    'owl_relay_spool_dropped_samples_total',
    'Samples dropped by the spool cap policy and never delivered upstream',
    (s) => s.spool.droppedSamples,
  );
  counter(
    'owl_relay_spool_dropped_records_total',
    'Records dropped by the spool cap policy and never delivered upstream',
    (s) => s.spool.droppedRecords,
  );
  gauge('owl_relay_agents_connected', 'Agent connections open', (s) => s.agents.connected);
  gauge('owl_relay_zone_devices', 'SNMP devices this relay polls', (s) => s.zone.devices);
  gauge('owl_relay_zone_devices_up', 'SNMP devices that answered their last poll', (s) => s.zone.devicesUp);
  counter(
    'owl_relay_zone_polls_skipped_total',
    "Device polls skipped because the device's previous poll was still running",
    (s) => s.zone.skippedPolls,
  );
  gauge('owl_relay_uplink_connected', '1 when the uplink is connected', (s) =>
    s.uplink.state === 'connected' ? 1 : 0,
  );
  gauge(
    'owl_relay_uplink_inflight_batches',
    'Batches sent and not yet acknowledged',
    (s) => s.uplink.inFlight,
  );
  gauge(
    'owl_relay_uplink_oldest_unacked_age_seconds',
    'Age of the oldest record the upstream has not acknowledged',
    (s) => s.uplink.oldestUnackedAgeMs / 1000,
  );
  gauge(
    'owl_relay_uplink_stuck',
    '1 while a seq range is stuck (the upstream keeps failing to store it)',
    (s) => (s.uplink.stuck === null ? 0 : 1),
  );
}

/** What the relay's readiness looks at. */
export interface RelayHealthSources {
  spool: Spool;
  uplinkConnected: () => boolean;
  now: () => number;
}

/**
 * Ready: the spool answers (open, not failed), and the uplink is connected or the spool takes
 * agents' samples within its caps: below SPOOL_READY_SHARE of its byte cap, and nothing refused
 * or dropped by a cap in the last CAP_RECENT_MS (seen at the checks; a reject-new spool can refuse
 * a large append well below its cap). Otherwise agents are refused or the oldest records dropped.
 */
export function relayReadiness(h: RelayHealthSources): () => Promise<Readiness> {
  const capped = (s: SpoolStats): number => s.rejectedRecords + s.droppedRecords;
  let seen = capped(h.spool.stats());
  let cappedAt = -Infinity;
  return async () => {
    const spool = await probe(h.spool.read(h.spool.nextSeq(), { maxRecords: 1, maxBytes: 1 }), 'spool');
    const s = h.spool.stats();
    if (capped(s) > seen) cappedAt = h.now();
    seen = capped(s);
    const share = `${Math.round((s.diskBytes / s.maxBytes) * 100)}% of its byte cap`;
    const atCap = s.diskBytes >= SPOOL_READY_SHARE * s.maxBytes || h.now() - cappedAt < CAP_RECENT_MS;
    const effect = s.policy === 'reject-new' ? 'agents are refused' : 'the oldest records are dropped';
    const recent = `or refusing or dropping in the last ${CAP_RECENT_MS / 1000} s`;
    const uplink = h.uplinkConnected()
      ? { ok: true, detail: 'connected' }
      : !atCap
        ? { ok: true, detail: `not connected; spooling, the spool at ${share}` }
        : { ok: false, detail: `not connected, the spool at its caps (${share}, ${recent}): ${effect}` };
    return readiness({ spool, uplink });
  };
}
