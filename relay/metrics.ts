/**
 * Prometheus metrics, named `owl_relay_<noun>_<unit>[_total]`. Gauges read
 * live state when scraped; counters are bumped where things happen. The
 * HTTP endpoint is off by default and binds to loopback by default.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { StuckRange } from './uplink-client.js';

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
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly framesReceived: Counter<'type'>;
  readonly agentErrors: Counter<'code'>;
  readonly connectionsRejected: Counter<'reason'>;
  readonly batchesSent: Counter<'kind'>;
  readonly samplesSent: Counter;
  readonly samplesResent: Counter;
  readonly samplesAcked: Counter<'status'>;
  readonly stuckRanges: Counter;
  readonly batchesAcked: Counter<'status'>;
  readonly uplinkConnects: Counter;
  private server: Server | undefined;

  constructor(status: () => RelayStatus) {
    const r = [this.registry];
    this.framesReceived = new Counter({
      name: 'owl_relay_agent_frames_total',
      help: 'Frames received from agents',
      labelNames: ['type'],
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
    registerStatusGauges(r, status);
  }

  /** Serve `/metrics` on host:port; resolves with the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
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
  gauge(
    'owl_relay_spool_dropped_samples_total',
    'Samples dropped by the spool cap policy and never delivered upstream',
    (s) => s.spool.droppedSamples,
  );
  gauge(
    'owl_relay_spool_dropped_records_total',
    'Records dropped by the spool cap policy and never delivered upstream',
    (s) => s.spool.droppedRecords,
  );
  gauge('owl_relay_agents_connected', 'Agent connections open', (s) => s.agents.connected);
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
