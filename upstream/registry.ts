/**
 * The host registry and zone inventory: what the v3 server owned.
 *
 * Persistence: meta keys in the sample store's database, written through
 * `SampleStore.write` (synced batches), so registry changes caused by a batch
 * commit in the same write as its samples. Layout:
 *   host/<uuid>            → HostRecord JSON
 *   inv/ports/<uuid>       → Port[] a host listens on (PORTDISCOVERYR)
 *   inv/asset/<uuid>       → AssetDiscovery (ASSESTDISCOVERY)
 *   zone/<zone>/devices    → NetDevice[] the zone polls (GETDEVICES; UPDATEDEVICES refreshes)
 *   zone/<zone>/ports      → Port[] the zone checks (GETPORTS; UPDATEPORTS refreshes status)
 *   version/<platform>     → latest agent version ('' = any platform)
 * Everything is also held in memory (the registry is small next to the samples).
 */
import type { AssetDiscovery, Host, HostConfigRequest, NetDevice, Port, Service } from '../protocol/index.js';
import type { RegistryEvent } from './ingest.js';
import { putMeta, type MetaOp, type SampleStore } from './store/index.js';

export interface HostRecord {
  host: Host;
  hostname: string;
  os: string;
  kernel: string;
  zone: string;
  registeredAtMs: number;
  lastSeenMs: number;
}

export interface RegistryOptions {
  /** Register unknown hosts on their first HOSTCONFIG. Default true. */
  autoRegister: boolean;
  /** Heartbeat period agents use (v3: 30 s). */
  heartbeatMs: number;
  /** Missed heartbeats before a host is down. Default 3. */
  missedHeartbeats: number;
  now: () => number;
}

export type HostStatus = 'up' | 'down' | 'unknown';

export class Registry {
  private readonly hosts = new Map<string, HostRecord>();
  private readonly kv = new Map<string, unknown>();
  private nextHostId = 1;
  /** Called when a host's config changed (pushed to the relays serving it). */
  onHostChanged: (record: HostRecord) => void = () => undefined;

  private constructor(
    private readonly store: SampleStore,
    readonly options: RegistryOptions,
  ) {}

  static async open(store: SampleStore, options: RegistryOptions): Promise<Registry> {
    const registry = new Registry(store, options);
    for (const [key, value] of await store.listMeta('host/', 10_000_000)) {
      const record = JSON.parse(value.toString()) as HostRecord;
      registry.hosts.set(key.slice(5), record);
      if (typeof record.host.id === 'number')
        registry.nextHostId = Math.max(registry.nextHostId, record.host.id + 1);
    }
    for (const prefix of ['inv/', 'zone/', 'version/']) {
      for (const [key, value] of await store.listMeta(prefix, 10_000_000))
        registry.kv.set(key, JSON.parse(value.toString()));
    }
    return registry;
  }

  get size(): number {
    return this.hosts.size;
  }

  host(uuid: string): HostRecord | undefined {
    return this.hosts.get(uuid);
  }

  list(): HostRecord[] {
    return [...this.hosts.values()];
  }

  /** Up while heartbeats come; down after `missedHeartbeats` periods plus half a period of silence (no flapping at exactly one period). */
  status(record: HostRecord): HostStatus {
    if (record.lastSeenMs === 0) return 'unknown';
    const { heartbeatMs, missedHeartbeats, now } = this.options;
    return now() - record.lastSeenMs > (missedHeartbeats + 0.5) * heartbeatMs ? 'down' : 'up';
  }

  /**
   * HOSTCONFIG: register an unknown host (when allowed), refresh a known one's
   * ip/hostname/os/kernel, and return its config (null when unknown and not registered).
   */
  async hostConfig(request: HostConfigRequest, zone: string): Promise<Host | null> {
    const now = this.options.now();
    let record = this.hosts.get(request.uuid);
    if (record === undefined) {
      if (!this.options.autoRegister) return null;
      record = {
        host: {
          id: this.nextHostId++,
          uuid: request.uuid,
          ip: request.ip ?? '',
          group: '',
          proxy: zone,
          services: [],
        },
        hostname: request.hostname ?? '',
        os: request.os ?? '',
        kernel: request.kernel ?? '',
        zone,
        registeredAtMs: now,
        lastSeenMs: now,
      };
    } else {
      record = {
        ...record,
        host: { ...record.host, ip: request.ip ?? record.host.ip ?? '', proxy: zone },
        hostname: request.hostname ?? record.hostname,
        os: request.os ?? record.os,
        kernel: request.kernel ?? record.kernel,
        zone,
        lastSeenMs: now,
      };
    }
    await this.commit([record]);
    return record.host;
  }

  /** Replace a host's services (operator API); pushed to its relay. */
  async setServices(uuid: string, services: Service[]): Promise<HostRecord | undefined> {
    const record = this.hosts.get(uuid);
    if (record === undefined) return undefined;
    const next = { ...record, host: { ...record.host, services } };
    await this.commit([next]);
    this.onHostChanged(next);
    return next;
  }

  /**
   * Meta ops for registry events carried by a batch; the caller writes them in
   * the batch's own store write, then calls `applied()` with the same list.
   */
  prepare(events: readonly RegistryEvent[]): { ops: MetaOp[]; apply: () => void } {
    const changedHosts = new Map<string, HostRecord>();
    const kv = new Map<string, unknown>();
    const pushed = new Set<string>();
    const current = (uuid: string): HostRecord | undefined => changedHosts.get(uuid) ?? this.hosts.get(uuid);
    for (const e of events) {
      switch (e.kind) {
        case 'heartbeat': {
          const r = current(e.uuid);
          // A relay's clock may run ahead: a time past ours would keep a dead host up.
          const at = Math.min(e.atMs, this.options.now());
          if (r !== undefined && at > r.lastSeenMs) changedHosts.set(e.uuid, { ...r, lastSeenMs: at });
          break;
        }
        case 'discover': {
          const r = current(e.uuid);
          const services = r?.host.services ?? [];
          const i = services.findIndex((s) => s.name === e.service);
          const service = services[i];
          if (r === undefined || service === undefined || service.items?.[e.metric] !== undefined) break;
          const updated: Service = {
            ...service,
            items: { ...service.items, [e.metric]: { key: e.metric, data_type: 'GAUGE' } },
          };
          const next = services.slice();
          next[i] = updated;
          changedHosts.set(e.uuid, { ...r, host: { ...r.host, services: next } });
          pushed.add(e.uuid);
          break;
        }
        case 'ports':
          kv.set(`inv/ports/${e.uuid}`, e.ports);
          break;
        case 'asset':
          kv.set(`inv/asset/${e.uuid}`, e.asset);
          break;
        case 'devices':
          kv.set(
            `zone/${e.zone}/devices`,
            mergeById(this.zoneItems<NetDevice>(e.zone, 'devices'), e.devices),
          );
          break;
        case 'portStatus':
          kv.set(`zone/${e.zone}/ports`, mergeById(this.zoneItems<Port>(e.zone, 'ports'), e.ports));
          break;
      }
    }
    const ops: MetaOp[] = [];
    for (const [uuid, r] of changedHosts) ops.push(putMeta(`host/${uuid}`, JSON.stringify(r)));
    for (const [key, value] of kv) ops.push(putMeta(key, JSON.stringify(value)));
    return {
      ops,
      apply: () => {
        for (const [uuid, r] of changedHosts) this.hosts.set(uuid, r);
        for (const [key, value] of kv) this.kv.set(key, value);
        for (const uuid of pushed) {
          const r = this.hosts.get(uuid);
          if (r !== undefined) this.onHostChanged(r);
        }
      },
    };
  }

  /** GETDEVICES / GETPORTS: answered by zone. */
  zoneItems<T>(zone: string, what: 'devices' | 'ports'): T[] {
    return (this.kv.get(`zone/${zone}/${what}`) as T[] | undefined) ?? [];
  }

  async setZoneItems(zone: string, what: 'devices' | 'ports', items: NetDevice[] | Port[]): Promise<void> {
    const key = `zone/${zone}/${what}`;
    await this.store.write([], { meta: [putMeta(key, JSON.stringify(items))] });
    this.kv.set(key, items);
  }

  ports(uuid: string): Port[] {
    return (this.kv.get(`inv/ports/${uuid}`) as Port[] | undefined) ?? [];
  }

  asset(uuid: string): AssetDiscovery | undefined {
    return this.kv.get(`inv/asset/${uuid}`) as AssetDiscovery | undefined;
  }

  /** Latest agent version for CLIENTVERSION. */
  version(platform = ''): string | null {
    return (
      (this.kv.get(`version/${platform}`) as string | undefined) ??
      (this.kv.get('version/') as string | undefined) ??
      null
    );
  }

  async setVersion(version: string, platform = ''): Promise<void> {
    await this.store.write([], { meta: [putMeta(`version/${platform}`, JSON.stringify(version))] });
    this.kv.set(`version/${platform}`, version);
  }

  private async commit(records: HostRecord[]): Promise<void> {
    await this.store.write([], {
      meta: records.map((r) => putMeta(`host/${r.host.uuid}`, JSON.stringify(r))),
    });
    for (const r of records) this.hosts.set(r.host.uuid, r);
  }
}

/** Replace items with the same id (or ip+port for ports), keep the rest. */
function mergeById<T extends { id?: number | string; ip?: string; port?: number }>(
  current: T[],
  updates: T[],
): T[] {
  const key = (x: T): string => (x.id !== undefined ? `id:${x.id}` : `ip:${x.ip ?? ''}:${x.port ?? ''}`);
  const byKey = new Map(current.map((x) => [key(x), x]));
  for (const u of updates) byKey.set(key(u), { ...byKey.get(key(u)), ...u });
  return [...byKey.values()];
}
