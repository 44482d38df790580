/**
 * The relay's zone duties wired to the rest of the relay: the inventory comes
 * from the upstream (INVENTORY_REQ on connect and every `refreshMs`,
 * INVENTORY_PUSH when an operator changes it) and is cached in the config
 * cache, so a relay restarted during an outage keeps polling. What the
 * pollers produce is spooled like agent data and so travels the same
 * exactly-once path: samples as SERIESBATCH packets (one session per relay
 * process, its own seq), interface tables as UPDATEDEVICES and port status
 * changes as UPDATEPORTS, which the upstream merges into the zone inventory.
 */
import { randomUUID } from 'node:crypto';
import {
  PacketType,
  type BatchSample,
  type NetDevice,
  type Port,
  type TimerHandle,
  type Timers,
} from '../protocol/index.js';
import type { ConfigCache } from './config-cache.js';
import type { ZoneSettings } from './config.js';
import type { SpoolRequest } from './agent-sink.js';
import { ZonePoller, type ZoneLog, type NetDeviceV4 } from './zone/index.js';

/** Samples per SERIESBATCH the zone spools: a big device's table fits a few. */
const SAMPLES_PER_BATCH = 5000;

export interface ZoneDutiesOptions {
  relayId: string;
  settings: ZoneSettings;
  cache: ConfigCache;
  /** Spool packets; resolves once durable. */
  ingest(requests: SpoolRequest[]): Promise<void>;
  /** Ask the upstream for the zone's devices or ports (rejects when it cannot answer). */
  ask(what: 'devices' | 'ports'): Promise<NetDevice[] | Port[]>;
  log: ZoneLog;
  timers: Timers;
}

export class ZoneDuties {
  private readonly poller: ZonePoller;
  private readonly session = `zone-${randomUUID()}`;
  private readonly source: string;
  private seq = 0;
  private refreshTimer: TimerHandle | undefined;

  private constructor(private readonly o: ZoneDutiesOptions) {
    this.source = `zone:${o.relayId}`;
    this.poller = new ZonePoller({
      sink: {
        samples: (s) => this.spoolSamples(s),
        devices: (d) => this.spoolJson(PacketType.UPDATEDEVICES, d),
        ports: (p) => this.spoolJson(PacketType.UPDATEPORTS, p),
      },
      log: o.log,
      timers: o.timers,
      concurrency: o.settings.concurrency,
      portIntervalMs: o.settings.portIntervalMs,
      portTimeoutMs: o.settings.portTimeoutMs,
      portConcurrency: o.settings.portConcurrency,
    });
  }

  /** Start polling what the cache holds; the upstream's answers replace it when they come. */
  static async start(o: ZoneDutiesOptions): Promise<ZoneDuties> {
    const z = new ZoneDuties(o);
    const devices = await o.cache.getInventory('devices');
    const ports = await o.cache.getInventory('ports');
    if (devices !== null) z.poller.setDevices(devices as NetDeviceV4[]);
    if (ports !== null) z.poller.setPorts(ports);
    return z;
  }

  /** The uplink is up: ask for the inventory now and every refreshMs (while it is down, asking fails at once). */
  connected(): void {
    this.o.timers.clearInterval(this.refreshTimer);
    this.refreshTimer = this.o.timers.setInterval(() => this.refresh(), this.o.settings.refreshMs);
    this.refresh();
  }

  /** The upstream's list (an answer or a push): applied, and cached for restarts. */
  apply(what: 'devices' | 'ports', items: NetDevice[] | Port[]): void {
    if (what === 'devices') this.poller.setDevices(items as NetDeviceV4[]);
    else this.poller.setPorts(items as Port[]);
    this.o.cache
      .setInventory(what, items)
      .catch((err: unknown) =>
        this.o.log.warn({ what, err: (err as Error).message }, 'zone inventory cache write failed'),
      );
  }

  status(): { devices: number; devicesUp: number; skippedPolls: number } {
    const s = this.poller.status();
    return {
      devices: s.length,
      devicesUp: s.filter((d) => d.up === true).length,
      skippedPolls: this.poller.skipped,
    };
  }

  close(): void {
    this.o.timers.clearInterval(this.refreshTimer);
    this.poller.close();
  }

  private refresh(): void {
    for (const what of ['devices', 'ports'] as const) {
      this.o.ask(what).then(
        (items) => this.apply(what, items),
        // The cache keeps the zone polled; the next refresh or push brings the change.
        () => undefined,
      );
    }
  }

  private async spoolSamples(samples: BatchSample[]): Promise<void> {
    for (let i = 0; i < samples.length; i += SAMPLES_PER_BATCH) {
      const part = samples.slice(i, i + SAMPLES_PER_BATCH);
      const body = { session: this.session, seq: ++this.seq, samples: part };
      await this.o.ingest([
        {
          type: PacketType.SERIESBATCH,
          body: Buffer.from(JSON.stringify(body)),
          samples: part.length,
          source: this.source,
          uuid: this.source,
        },
      ]);
    }
  }

  private spoolJson(type: number, items: NetDevice[] | Port[]): Promise<void> {
    return this.o.ingest([
      { type, body: Buffer.from(JSON.stringify(items)), samples: 0, source: this.source, uuid: this.source },
    ]);
  }
}
