/**
 * owl-agent: the pieces wired together. Identity and the cached host config
 * first, so plugins start at once with no relay reachable; every sample
 * (plugins, collectors) goes through the batcher into the durable buffer,
 * and the sender moves the buffer to the nearest relay. A HOSTCONFIGRESP
 * that changes the host's services is cached and applied without a restart.
 */
import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import {
  PacketType,
  SYSTEM_TIMERS,
  type Host,
  type HostConfigRequest,
  type Timers,
} from '../protocol/wire/index.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';
import { Batcher } from './batcher.js';
import { BatchLog, type BatchLogStats } from './buffer/batch-log.js';
import { CollectorRunner, type CollectorRound } from './collect.js';
import { builtinCollectors, discoverAssets, discoverPorts, type BuiltinOptions } from './collectors/index.js';
import { relayAddresses, type AgentConfig } from './config.js';
import { FirmwareUpdater, type FirmwareStatus } from './firmware/index.js';
import { hostCachePath, loadHostCache, saveHostCache } from './host-cache.js';
import { loadIdentity, type IdentitySource } from './identity.js';
import type { AgentLogger } from './log.js';
import { Sender, type SenderStatus } from './link/sender.js';
import { PluginHost, type ServiceStatus } from './plugins/plugin-host.js';
import { Scheduler } from './plugins/scheduler.js';
import { startStatusSocket } from './status-socket.js';
import type { V3Settings } from './v3-migration.js';

export interface AgentOptions {
  config: AgentConfig;
  /** `owl-agent/<version>`. */
  agent: string;
  logger: AgentLogger;
  v3?: V3Settings;
  timers?: Timers;
  collectors?: BuiltinOptions;
  /** A new version was switched to (firmware): stop cleanly and exit 75 so the unit restarts it. */
  onFirmwareRestart?: () => void;
}

export interface AgentStatus {
  uuid: string;
  agent: string;
  startedAt: number;
  relay: SenderStatus;
  /** The agent version the relay last offered (CLIENTVERSIONRESP). */
  offeredVersion: string | null;
  buffer: BatchLogStats & { heldSamples: number; heldDropped: number };
  plugins: ServiceStatus[];
  collectors: CollectorRound | null;
  /** The running version, slots and update state (docs/firmware-agent.md). */
  firmware: FirmwareStatus;
  /** process.memoryUsage(), bytes: what the agent costs its host. */
  memory: NodeJS.MemoryUsage;
}

export class Agent {
  private offeredVersion: string | null = null;
  private server: Server | undefined;
  private hostJson = '';
  private readonly startedAt: number;
  private firmware!: FirmwareUpdater;

  private constructor(
    private readonly o: AgentOptions,
    readonly uuid: string,
    private readonly log: BatchLog,
    private readonly batcher: Batcher,
    private readonly plugins: PluginHost,
    private readonly scheduler: Scheduler,
    private readonly collectors: CollectorRunner,
    private sender: Sender | undefined,
  ) {
    this.startedAt = (o.timers ?? SYSTEM_TIMERS).now();
  }

  static async start(o: AgentOptions): Promise<Agent> {
    const { config, logger } = o;
    const timers = o.timers ?? SYSTEM_TIMERS;
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
    const id = await loadIdentity(config.stateDir, o.v3?.uuid ? { v3Uuid: o.v3.uuid } : {});
    logIdentity(logger, id);
    const log = await BatchLog.open({
      dir: join(config.stateDir, 'buffer'),
      uuid: id.uuid,
      maxBytes: config.buffer.maxBytes,
      memoryBytes: config.buffer.memoryBytes,
      logger,
    });
    const ref: { agent?: Agent } = {};
    const batcher = new Batcher({
      log,
      timers,
      logger,
      ...config.batch,
      appended: () => ref.agent?.sender?.wake(),
    });
    const plugins = new PluginHost({
      pluginDir: config.pluginDir,
      emit: (samples) => batcher.add(samples),
      timers,
      logger,
      ...(config.pluginTimeout ? { defaultTimeoutMs: config.pluginTimeout * 1000 } : {}),
    });
    const scheduler = new Scheduler({ timers, logger });
    const every = new Map(
      Object.entries(config.collectorIntervals).map(([name, s]) => [
        name,
        Math.max(1, Math.round(s / Math.max(1, config.collectInterval))),
      ]),
    );
    const collectors = new CollectorRunner(selectCollectors(config, o.collectors), timers, logger, every);
    const agent = new Agent(o, id.uuid, log, batcher, plugins, scheduler, collectors, undefined);
    ref.agent = agent;
    await agent.startParts(await relayAddresses(config));
    return agent;
  }

  status(): AgentStatus {
    return {
      uuid: this.uuid,
      agent: this.agentName(),
      startedAt: this.startedAt,
      relay: this.sender!.status(),
      offeredVersion: this.offeredVersion,
      buffer: { ...this.log.stats(), heldSamples: this.batcher.held, heldDropped: this.batcher.dropped },
      plugins: this.plugins.status(),
      collectors: this.collectors.last ?? null,
      firmware: this.firmware.status(),
      memory: process.memoryUsage(),
    };
  }

  /** Stop collecting, store what is held, give the relay `graceMs` to ACK what is in flight. */
  async stop(graceMs = 5000): Promise<void> {
    this.scheduler.stop();
    await this.plugins.stop();
    await this.batcher.flush();
    await this.firmware?.stop();
    await this.sender?.stop(graceMs);
    await this.log.close();
    this.server?.close();
  }

  /** `owl-agent/<version>`; from slots, the slot's version: what HELLO and the registry show. */
  private agentName(): string {
    return this.o.config.firmware.root ? `owl-agent/${this.firmware.version}` : this.o.agent;
  }

  private async startParts(relays: Awaited<ReturnType<typeof relayAddresses>>): Promise<void> {
    const { config, logger } = this.o;
    await this.applyCachedHost();
    const timers = this.o.timers ?? SYSTEM_TIMERS;
    this.firmware = await FirmwareUpdater.open({
      settings: config.firmware,
      stateDir: config.stateDir,
      timers,
      logger,
      send: (type, body) => this.sender?.sendFirmware(type, body) ?? false,
      restart: () => this.o.onFirmwareRestart?.(),
    });
    const firmware = this.firmware;
    this.sender = new Sender({
      relays,
      uuid: this.uuid,
      ...(config.token ? { token: config.token } : {}),
      agent: this.agentName(),
      log: this.log,
      timers,
      firmware: {
        session: (up) => firmware.session(up),
        packet: (p) => firmware.packet(p),
        acked: () => firmware.acked(),
      },
      logger,
      hostConfigRequest: (ip) => hostConfigRequest(this.uuid, ip),
      onHostConfig: (host) =>
        void this.onHostConfig(host).catch((err: Error) =>
          logger.error({ reason: err.message }, 'host config not applied'),
        ),
      onVersion: (v) => (this.offeredVersion = v),
      ackTimeoutMs: config.ackTimeout * 1000,
      heartbeatMs: config.heartbeatInterval * 1000,
      hostUpdateMs: config.hostUpdateInterval * 1000,
      probeMs: config.relayProbeInterval * 1000,
      knownV4: await readKnownV4(config.stateDir),
      onKnownV4: (labels) =>
        void writeFileAtomic(join(config.stateDir, KNOWN_V4_FILE), JSON.stringify(labels)),
    });
    this.sender.start();
    await this.scheduleCollectors();
    this.server = await startStatusSocket(config.stateDir, () => this.status());
  }

  private async scheduleCollectors(): Promise<void> {
    const { config } = this.o;
    if (config.collectInterval > 0) {
      await this.scheduler.add({
        id: 'collectors',
        intervalS: config.collectInterval,
        run: async () => this.batcher.add(await this.collectors.round()),
      });
    }
    const ports = async (): Promise<void> =>
      this.sender!.sendInventory(PacketType.PORTDISCOVERYR, {
        uuid: this.uuid,
        ports: await discoverPorts(),
      });
    const assets = async (): Promise<void> =>
      this.sender!.sendInventory(PacketType.ASSESTDISCOVERY, await discoverAssets(this.uuid));
    for (const [id, intervalS, run] of [
      ['ports', config.discovery.portsInterval, ports],
      ['assets', config.discovery.assetsInterval, assets],
    ] as const) {
      if (intervalS <= 0) continue;
      await this.scheduler.add({ id, intervalS, run });
      run().catch((err: Error) =>
        this.o.logger.warn({ discovery: id, reason: err.message }, 'discovery failed'),
      );
    }
  }

  private async applyCachedHost(): Promise<void> {
    const path = hostCachePath(this.o.config.stateDir);
    let host: Host | undefined;
    try {
      host = await loadHostCache(path);
    } catch (err) {
      this.o.logger.warn(
        { file: path, reason: (err as Error).message },
        'cached host config unreadable: ignored',
      );
    }
    if (!host && this.o.v3?.host) {
      host = this.o.v3.host;
      await saveHostCache(path, host);
    }
    if (!host) return;
    this.hostJson = JSON.stringify(host);
    this.o.logger.info({ services: host.services?.length ?? 0 }, 'running the cached host config');
    await this.plugins.apply(host.services ?? []);
  }

  private async onHostConfig(host: Host): Promise<void> {
    if (host.uuid !== this.uuid) {
      this.o.logger.warn({ uuid: host.uuid }, 'host config for another uuid: ignored');
      return;
    }
    const json = JSON.stringify(host);
    if (json === this.hostJson) return;
    this.hostJson = json;
    await saveHostCache(hostCachePath(this.o.config.stateDir), host);
    this.o.logger.info({ services: host.services?.length ?? 0 }, 'host config changed: applied');
    await this.plugins.apply(host.services ?? []);
  }
}

function selectCollectors(config: AgentConfig, options: BuiltinOptions | undefined) {
  const all = builtinCollectors(options);
  return config.collectors ? all.filter((c) => config.collectors!.includes(c.name)) : all;
}

function logIdentity(logger: AgentLogger, id: { uuid: string; source: IdentitySource }): void {
  if (id.source === 'state') return;
  logger.info({ uuid: id.uuid, source: id.source }, 'host identity made');
}

/** The relays that answered HELLO once (link/sender.ts says why it matters). */
const KNOWN_V4_FILE = 'v4-relays.json';

async function readKnownV4(stateDir: string): Promise<string[]> {
  try {
    const list = JSON.parse((await readFileIfExists(join(stateDir, KNOWN_V4_FILE))) ?? '[]') as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

let osName: string | undefined;

/** The HOSTCONFIG body: who this host is, as the relay and the registry show it. */
export function hostConfigRequest(uuid: string, ip: string | undefined): HostConfigRequest {
  return {
    uuid,
    ...(ip ? { ip: ip.replace(/^::ffff:/, '') } : {}),
    hostname: hostname(),
    kernel: release(),
    os: osName ?? 'Linux',
  };
}

/** PRETTY_NAME from /etc/os-release, read once at start. */
export async function readOsName(): Promise<void> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? 'Linux';
  } catch {
    osName = 'Linux';
  }
}
