/**
 * The relay process: agent listener → spool → uplink, plus the config cache
 * and metrics. Implements the AgentSink every agent connection talks to.
 */
import { readFileSync } from 'node:fs';
import { loadPublicKeys } from '../firmware/index.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import {
  BatchAckStatus,
  createPacketParser,
  packetName,
  SYSTEM_TIMERS,
  type Host,
  type HostConfigRequest,
  type UplinkRelayStatus,
} from '../protocol/index.js';
import { RelayFirmware } from './firmware/index.js';
import { AccessPolicy } from './access.js';
import type { AgentConnection } from './agent-connection.js';
import type { SpoolRequest } from './agent-sink.js';
import { HostConfigs } from './host-configs.js';
import { Packer } from './packer.js';
import { PacketDrops } from './packet-drops.js';
import { ZoneDuties } from './zone-duties.js';
import { AgentLog } from './agent-log.js';
import { AgentServer } from './agent-server.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { ConfigCache } from './config-cache.js';
import { IngestGate } from './ingest-gate.js';
import { startControlServer } from './control.js';
import { assertRunnable, statePaths, type RelayConfig } from './config.js';
import { BatchDedupe } from './dedupe.js';
import { DropCount } from './drop-count.js';
import { RelayMetrics, type RelayStatus } from './metrics.js';
import { SpoolRefusals } from './refusals.js';
import { lockStateDir, type StateLock } from '../rocks/index.js';
import { openRocksSpool, WorkerSpool, type Spool, type SpoolRecord } from './spool/index.js';
import { UplinkClient } from './uplink-client.js';

export interface RelayStartOptions {
  logger?: Logger;
  now?: () => number;
  backoff?: BackoffOptions;
  /** Uplink slow-retry delay (after a refused authentication). */
  slowRetryMs?: number;
  statusIntervalMs?: number;
  /** Period of the summary lines: an upstream outage, agent connections (default 60 s, or the config's). */
  logSummaryMs?: number;
  /** Period of the backlog drain progress line (default 10 s). */
  drainProgressMs?: number;
  /**
   * The relay switched to a new slot (firmware): stop it and exit with EXIT_FIRMWARE_RESTART
   * (the CLI does). Without it the relay stops itself and only logs.
   */
  onFirmwareRestart?: () => void;
}

export class Relay {
  readonly metrics: RelayMetrics;
  readonly uplink: UplinkClient;
  readonly server: AgentServer;
  /** Bundles over the uplink, the agents' cache, the relay's own updates (relay/firmware/). */
  readonly firmware: RelayFirmware;
  /** Agents' configs: cached, refreshed, pushed (host-configs.ts). */
  private readonly hosts: HostConfigs;
  /** Bytes awaiting durability (memory.ingestBytes), and held while the uplink is behind on live data. */
  private readonly gate: IngestGate;
  private readonly packer: Packer;
  /** Agent connects, disconnects and refusals: debug lines and a summary (agent-log.ts). */
  private readonly agentLog: AgentLog;
  /** Reported drops: removed by the spool's cap policy and never delivered upstream (drop-count.ts). */
  private readonly drops = new DropCount();
  private agentAddresses: AddressInfo[] = [];
  private metricsAddr: AddressInfo | undefined;
  private lastDiskBytes = 0;
  private control: Server | undefined;
  private readonly diskTimer: NodeJS.Timeout;
  /** SNMP polls and port checks of the zone (zone-duties.ts), when `zone.enabled`. */
  private zone: ZoneDuties | undefined;

  private constructor(
    readonly config: RelayConfig,
    readonly spool: Spool,
    readonly cache: ConfigCache,
    private readonly stateLock: StateLock,
    readonly log: Logger,
    private readonly now: () => number,
    options: RelayStartOptions,
  ) {
    this.gate = new IngestGate(config.memory.ingestBytes);
    this.firmware = this.firmwarePart(options);
    this.hosts = new HostConfigs({
      cache,
      ask: (request, source) => this.uplink.requestHostConfig(request, request.uuid, source),
      log,
      now,
      hostsInMemory: config.memory.hostsInMemory,
    });
    this.metrics = new RelayMetrics(() => this.status(), this.firmware.version);
    this.packer = new Packer({
      level: config.spool.compressLevel,
      now,
      write: (records) => this.writeRecords(records),
    });
    this.uplink = this.uplinkClient(options);
    this.agentLog = new AgentLog({
      log,
      timers: { ...SYSTEM_TIMERS, now },
      connectedNow: () => this.server.connectionCount,
      summaryMs: logSummaryMs(config, options),
    });
    this.server = this.agentServer();
    this.agentLog.start();
    this.diskTimer = setInterval(() => void this.refreshDiskBytes(), 5000);
    this.diskTimer.unref();
  }

  /** The firmware part: its messages go out on the uplink; a switch ends in a restart. */
  private firmwarePart(options: RelayStartOptions): RelayFirmware {
    const { config, log, now } = this;
    const f = config.firmware;
    return new RelayFirmware({
      dir: statePaths(config).firmware,
      ...(f.root === undefined ? {} : { root: f.root }),
      keys: loadPublicKeys(f.keys),
      share: f.share,
      chunkBytes: f.chunkBytes,
      maxCacheBytes: f.maxCacheBytes,
      ...(f.healthTimeoutMs === undefined ? {} : { healthTimeoutMs: f.healthTimeoutMs }),
      timers: { ...SYSTEM_TIMERS, now },
      log: log.child({ part: 'firmware' }),
      send: (msg) => this.uplink.sendFirmware(msg),
      onRestart: () => {
        if (options.onFirmwareRestart !== undefined) return options.onFirmwareRestart();
        log.warn({}, 'firmware switched: restart the relay to run the new version');
      },
      onFetched: (n) => this.metrics.firmwareBytesFetched.inc(n),
      onRefused: (code) => this.metrics.firmwareRefusals.inc({ code }),
      onServed: (n) => this.metrics.firmwareBytesServed.inc(n),
    });
  }

  /** The uplink to the upstream, its events counted in the metrics. */
  private uplinkClient(options: RelayStartOptions): UplinkClient {
    const { config, spool, cache, log, now } = this;
    return new UplinkClient({
      relayId: config.relayId,
      token: config.token,
      urls: config.upstreams,
      spool,
      ...(config.uplinkTls === undefined ? {} : { tls: readTls(config.uplinkTls) }),
      batch: config.batch,
      tailBytes: config.memory.liveTailBytes,
      liveLagBytes: Math.floor(config.memory.liveTailBytes / 2),
      backoff: options.backoff ?? { ...DEFAULT_BACKOFF, ...config.reconnect },
      ...(options.slowRetryMs === undefined ? {} : { slowRetryMs: options.slowRetryMs }),
      ...(options.statusIntervalMs === undefined ? {} : { statusIntervalMs: options.statusIntervalMs }),
      summaryMs: logSummaryMs(config, options),
      ...(options.drainProgressMs === undefined ? {} : { drainProgressMs: options.drainProgressMs }),
      status: () => this.uplinkStatus(),
      onConfigPush: (uuid, host) => this.hosts.onConfigPush(uuid, host),
      onHostAnswer: (uuid, host) => this.hosts.onHostAnswer(uuid, host),
      onVersion: (version) => void cache.setClientVersion(version),
      onBatchAck: (status, _records, samples) => {
        this.metrics.batchesAcked.inc({ status: String(status) });
        this.metrics.samplesAcked.inc({ status: ackStatusName(status) }, samples);
      },
      onDeliveredAfterDrop: (records, samples) => this.drops.deliveredAfterDrop(records, samples),
      onBatchSent: (replay, _records, samples, resent) => {
        this.metrics.batchesSent.inc({ kind: replay ? 'replay' : 'live' });
        (resent ? this.metrics.samplesResent : this.metrics.samplesSent).inc(samples);
      },
      onStuck: (stuck) => {
        if (stuck !== undefined) this.metrics.stuckRanges.inc();
      },
      onConnect: () => {
        this.metrics.uplinkConnects.inc();
        this.zone?.connected();
        this.firmware.connected();
      },
      onDisconnect: () => this.firmware.disconnected(),
      onFirmware: (msg) => {
        if (msg.type === 'FIRMWARE_OFFER') this.firmware.offer(msg.body.bundles);
        else if (msg.type === 'FIRMWARE_CHUNK') this.firmware.chunk(msg.body);
        else this.firmware.error(msg.body);
      },
      onInventoryPush: (what, items) => this.zone?.apply(what, items),
      onLiveLag: (behind) => this.gate.hold(behind),
      log: log.child({ part: 'uplink' }),
      now,
    });
  }

  /** The agent listener, spooling into this relay. */
  private agentServer(): AgentServer {
    const { config, log, now } = this;
    const drops = new PacketDrops({
      log,
      now,
      onDropped: (e) => this.metrics.agentPacketsDropped.inc({ code: e.code }),
    });
    return new AgentServer({
      listen: config.listen,
      ...(config.agentTls === undefined ? {} : { tls: readTls(config.agentTls) }),
      maxConnections: config.maxConnections,
      maxConnectionsPerSource: config.maxConnectionsPerSource,
      parser: createPacketParser({ maxFrameBytes: config.maxFrameBytes }),
      access: new AccessPolicy(config.v3Allow, config.zoneToken),
      dedupe: new BatchDedupe({ maxSessions: config.memory.hostsInMemory }),
      refusals: new SpoolRefusals({
        log,
        now,
        onRefused: (e) => this.metrics.agentErrors.inc({ code: e.code }),
      }),
      sink: {
        spool: (requests, release) => this.ingest(requests, release),
        hostConfig: (request, source) => this.hostConfig(request, source),
        clientVersion: () => this.clientVersion(),
        attach: (uuid, connection) => this.attach(uuid, connection),
        detach: (uuid, connection) => this.detach(uuid, connection),
        firmware: {
          check: (connection, uuid, body) => this.firmware.agentCheck(connection, uuid, body),
          chunkRequest: (connection, body) => this.firmware.agentChunkRequest(connection, body),
          closed: (connection) => this.firmware.agentClosed(connection),
        },
      },
      idleTimeoutMs: config.idleTimeoutMs,
      maxPendingPackets: 4096,
      gate: this.gate,
      maxWriteBacklogBytes: 4 * 1024 * 1024,
      onError: (connection, error) => {
        this.metrics.agentErrors.inc({ code: error.code });
        log.info(
          { agent: connection.remoteAddress, code: error.code, why: error.message },
          'agent connection error',
        );
      },
      onConnection: (connection) => this.agentLog.connected(connection.remoteAddress),
      onDisconnect: (connection) => this.agentLog.disconnected(connection.remoteAddress),
      onDroppedPacket: (connection, error) => drops.dropped(connection.remoteAddress, error),
      onEvict: () => this.metrics.connectionsEvicted.inc(),
      onReject: (address, code) => {
        this.metrics.connectionsRejected.inc({ reason: code });
        this.agentLog.refused(address, code);
      },
    });
  }

  /**
   * Lock the state dir (OWL_ERR_STATE_LOCKED when another relay holds it: nothing in it is
   * touched), open state, start listening and connect upstream.
   */
  static async start(config: RelayConfig, options: RelayStartOptions = {}): Promise<Relay> {
    // No usable id or token: refuse now, rather than spool until the cap and then drop.
    assertRunnable(config);
    const log = options.logger ?? pino({ name: 'owl-relay', level: config.logLevel });
    const now = options.now ?? Date.now;
    const paths = statePaths(config);
    const lock = await lockStateDir(config.stateDir, 'owl-relay');
    /** What a failed start closes, newest first. */
    const opened: Array<() => Promise<void>> = [() => lock.release()];
    try {
      const spool = await (config.spool.worker ? WorkerSpool.open : openRocksSpool)({
        dir: paths.spool,
        maxBytes: config.spool.maxBytes,
        maxAgeMs: config.spool.maxAgeMs,
        policy: config.spool.policy,
        youngGenerationMiB: config.memory.spoolWorkerYoungMiB,
        now,
        logger: log.child({ part: 'spool' }),
      });
      opened.unshift(() => spool.close());
      const cache = await ConfigCache.open({
        path: paths.config,
        maxHostsInMemory: config.memory.hostsInMemory,
        logger: log.child({ part: 'config-cache' }),
        now,
      });
      opened.unshift(() => cache.close());
      const relay = new Relay(config, spool, cache, lock, log, now, options);
      opened.unshift(
        () => relay.server.stop(),
        () => relay.metrics.close(),
        async () => clearInterval(relay.diskTimer),
        async () => relay.agentLog.stop(),
      );
      relay.agentAddresses = await relay.server.start();
      if (config.metrics.enabled)
        relay.metricsAddr = await relay.metrics.listen(config.metrics.host, config.metrics.port, {
          spool,
          uplinkConnected: () => relay.uplink.state === 'connected',
          now,
        });
      relay.control = await startControlServer(config.stateDir, () => relay.status());
      if (config.zone.enabled) {
        relay.zone = await ZoneDuties.start({
          relayId: config.relayId,
          settings: config.zone,
          cache,
          ingest: (requests) => relay.ingest(requests),
          ask: (what) => relay.uplink.requestInventory(what),
          log: log.child({ part: 'zone' }),
          timers: { ...SYSTEM_TIMERS, now },
        });
        opened.unshift(async () => relay.zone?.close());
      }
      await relay.refreshDiskBytes();
      relay.uplink.start();
      log.info(
        { listen: relay.agentAddresses, upstreams: config.upstreams, metrics: relay.metricsAddr ?? null },
        'relay started',
      );
      return relay;
    } catch (err) {
      for (const close of opened) await close().catch(() => undefined);
      throw err;
    }
  }

  /** Bound agent listener addresses (port 0 resolved). */
  get addresses(): AddressInfo[] {
    return this.agentAddresses;
  }

  get metricsAddress(): AddressInfo | undefined {
    return this.metricsAddr;
  }

  // What agent connections call (AgentSink).

  /** Spool agent packets (one socket read's worth); resolves once durable. Packed with other reads of the same turn. */
  ingest(requests: SpoolRequest[], release?: () => void): Promise<void> {
    this.countFrames(requests);
    return this.packer.add(requests, release);
  }

  /** The packer's output: records in arrival order, appended as one spool write. */
  private writeRecords(records: SpoolRecord[]): Promise<void> {
    return this.spool.append(records).then((range) => {
      const receivedAt = this.now();
      const entries = records.map((r, i) => ({
        seq: range.first + i,
        payload: r.payload,
        samples: r.samples,
        receivedAt,
      }));
      this.uplink.notifyAppended(range.last, entries);
    });
  }

  /** Frames per type, counted once per read rather than once per frame. */
  private countFrames(requests: SpoolRequest[]): void {
    let type = -1;
    let run = 0;
    for (const r of requests) {
      if (r.type !== type) {
        if (run > 0) this.metrics.framesReceived.inc({ type: packetName(type) }, run);
        type = r.type;
        run = 0;
      }
      run += r.frames ?? 1;
    }
    if (run > 0) this.metrics.framesReceived.inc({ type: packetName(type) }, run);
  }

  hostConfig(request: HostConfigRequest, source: string): Promise<Host | null> {
    return this.hosts.hostConfig(request, source);
  }

  clientVersion(): string | null {
    return this.cache.clientVersion;
  }

  attach(uuid: string, connection: AgentConnection): void {
    this.hosts.attach(uuid, connection);
  }

  detach(uuid: string, connection: AgentConnection): void {
    this.hosts.detach(uuid, connection);
  }

  private async refreshDiskBytes(): Promise<void> {
    this.lastDiskBytes = await this.spool.diskBytes().catch(() => this.lastDiskBytes);
  }

  /** The figures `owl-relay status` and /metrics report. */
  status(): RelayStatus {
    const s = this.spool.stats();
    const dropped = this.drops.dropped(s, this.uplink.droppedInFlight);
    return {
      spool: {
        records: s.records,
        samples: s.samples,
        bytes: s.bytes,
        diskBytes: Math.max(this.lastDiskBytes, s.diskBytes),
        oldestAgeMs: s.ageMs,
        droppedSamples: dropped.samples,
        droppedRecords: dropped.records,
      },
      uplink: {
        state:
          this.uplink.state === 'connected'
            ? 'connected'
            : this.uplink.state === 'connecting'
              ? 'connecting'
              : 'disconnected',
        url: this.uplink.url,
        inFlight: this.uplink.inFlightBatches,
        window: this.uplink.window,
        // The spool holds exactly the records not yet acknowledged.
        oldestUnackedAgeMs: s.ageMs,
        stuck: this.uplink.stuck ?? null,
      },
      agents: { connected: this.server.connectionCount },
      zone: this.zone?.status() ?? { devices: 0, devicesUp: 0, skippedPolls: 0 },
      firmware: this.firmware.status(),
    };
  }

  private uplinkStatus(): UplinkRelayStatus {
    const s = this.spool.stats();
    return {
      version: this.firmware.version,
      agents: this.server.connectionCount,
      spool: {
        records: s.records,
        bytes: s.bytes,
        oldestAgeMs: s.records === 0 ? null : s.ageMs,
        firstUnacked: this.spool.firstSeq(),
        nextSeq: this.spool.nextSeq(),
      },
      dropped: {
        spoolCap: this.drops.dropped(s, this.uplink.droppedInFlight).records,
        rejected: s.rejectedRecords,
      },
      t: this.now(),
    };
  }

  /**
   * Stop accepting agents, close the uplink, then close the spool (pending appends finish first);
   * the state dir's lock goes last.
   */
  async stop(): Promise<void> {
    clearInterval(this.diskTimer);
    this.zone?.close();
    await this.server.stop();
    this.agentLog.stop();
    await this.firmware.stop();
    await this.uplink.stop();
    await this.metrics.close();
    const control = this.control;
    if (control !== undefined) await new Promise<void>((resolve) => control.close(() => resolve()));
    await this.packer.drain();
    await this.spool.close();
    await this.cache.close();
    await this.stateLock.release();
    this.log.info({}, 'relay stopped');
  }
}

/** The summary period: the start option, else the config's. */
function logSummaryMs(config: RelayConfig, options: RelayStartOptions): number {
  return options.logSummaryMs ?? config.logSummaryMs;
}

function readTls(files: { ca?: string; cert?: string; key?: string }): {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
} {
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (files.ca !== undefined) out.ca = readFileSync(files.ca);
  if (files.cert !== undefined) out.cert = readFileSync(files.cert);
  if (files.key !== undefined) out.key = readFileSync(files.key);
  return out;
}

/** A BATCH_ACK status as a metric label. */
function ackStatusName(status: BatchAckStatus): string {
  if (status === BatchAckStatus.STORED) return 'stored';
  return status === BatchAckStatus.DUPLICATE ? 'duplicate' : 'rejected';
}
