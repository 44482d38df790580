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
 *   next-host-id           → next numeric host id, written when a host is deleted, so that
 *                            an id is never handed out twice (not even after a restart)
 * Deleting a host removes its host/ and inv/ keys in one write; its series stay in the store.
 *
 * Everything is also held in memory (the registry is small next to the samples).
 * Invariant: memory shows every registry write already *issued*, not only the
 * durable ones. Each change updates memory first and then queues its store
 * write; the store applies writes in the order they were queued (one FIFO of
 * group commits), so the store converges on what memory shows, and every
 * read-modify-write (a heartbeat, an operator's move or delete) starts from
 * the latest state: a delete cannot be undone by a batch prepared just after
 * it, nor a batch's change by a stale operator write. Callers still act (ack,
 * push, answer) only once the write resolved. An operator change whose write
 * fails is undone in memory; a failed batch write leaves its (idempotent)
 * changes in memory and the relay resends the batch.
 */
import type { AssetDiscovery, Host, HostConfigRequest, NetDevice, Port, Service } from '../protocol/index.js';
import type { RegistryEvent } from './ingest.js';
import { delMeta, putMeta, type MetaOp, type SampleStore } from './store/index.js';

export interface HostRecord {
  host: Host;
  hostname: string;
  os: string;
  kernel: string;
  /** The agent software its last HOSTCONFIG came through (`owl-agent/0.1.0`, `v3`), or ''. */
  agent?: string;
  zone: string;
  registeredAtMs: number;
  lastSeenMs: number;
}

/** A host an operator registers before its agent reports (`Registry.addHost`). */
export interface NewHost {
  uuid: string;
  /** Zone (relay id, or `direct`) that serves it: only that zone may fetch its config. */
  zone: string;
  hostname?: string;
  services?: Service[];
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

const NEXT_HOST_ID = 'next-host-id';
const inventoryKeys = (uuid: string): string[] => [`inv/ports/${uuid}`, `inv/asset/${uuid}`];

export class Registry {
  private readonly hosts = new Map<string, HostRecord>();
  private readonly kv = new Map<string, unknown>();
  private nextHostId = 1;
  /** Called when a host's config changed (pushed to the relays serving it). */
  onHostChanged: (record: HostRecord) => void = () => undefined;
  /**
   * Called, once durable, when `zone` no longer serves host `uuid`: the host was
   * deleted, or moved out of it (the new zone gets onHostChanged). Its relay
   * forgets the cached config.
   */
  onHostRemoved: (uuid: string, zone: string) => void = () => undefined;
  /** An operator replaced a zone's device or port list (not the relays' status updates merged into it). */
  onZoneItemsChanged: (zone: string, what: 'devices' | 'ports', items: NetDevice[] | Port[]) => void = () =>
    undefined;

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
    const next = await store.getMeta(NEXT_HOST_ID);
    if (next !== undefined)
      registry.nextHostId = Math.max(registry.nextHostId, JSON.parse(next.toString()) as number);
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
        agent: request.agent ?? '',
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
        agent: request.agent ?? record.agent ?? '',
        zone,
        lastSeenMs: now,
      };
    }
    await this.commit(record);
    return record.host;
  }

  /**
   * Register a host before its agent reports (operator API): it then gets its
   * config on its first HOSTCONFIG through its zone even with autoRegister off.
   * Undefined when the uuid is already registered. Pushed to its zone, so the
   * relay caches it (and serves an agent that is already connected).
   */
  async addHost(spec: NewHost): Promise<HostRecord | undefined> {
    if (this.hosts.has(spec.uuid)) return undefined;
    const record: HostRecord = {
      host: {
        id: this.nextHostId++,
        uuid: spec.uuid,
        ip: '',
        group: '',
        proxy: spec.zone,
        services: spec.services ?? [],
      },
      hostname: spec.hostname ?? '',
      os: '',
      kernel: '',
      zone: spec.zone,
      registeredAtMs: this.options.now(),
      // Never heard from: status 'unknown' until its first HOSTCONFIG or heartbeat.
      lastSeenMs: 0,
    };
    await this.commit(record);
    this.onHostChanged(record);
    return record;
  }

  /**
   * Move a host to another zone (operator API): from now on only that zone's
   * relay gets its config (and pushes of it), and only that zone's data
   * updates it. Undefined when no such host. Pushed to the new zone; the old
   * zone is told to forget it (onHostRemoved).
   */
  async moveHost(uuid: string, zone: string): Promise<HostRecord | undefined> {
    const record = this.hosts.get(uuid);
    if (record === undefined) return undefined;
    if (record.zone === zone && record.host.proxy === zone) return record;
    const next: HostRecord = { ...record, host: { ...record.host, proxy: zone }, zone };
    await this.commit(next);
    if (record.zone !== zone) this.onHostRemoved(uuid, record.zone);
    this.onHostChanged(next);
    return next;
  }

  /**
   * Forget a host (operator API): its record, ports and asset go in one
   * durable write; its stored series stay. Its numeric id is never reused.
   * Undefined when no such host. Its zone is told to forget it (onHostRemoved).
   */
  async deleteHost(uuid: string): Promise<HostRecord | undefined> {
    const record = this.hosts.get(uuid);
    if (record === undefined) return undefined;
    const undo = [this.setHost(uuid, undefined), ...inventoryKeys(uuid).map((k) => this.setKv(k, undefined))];
    await this.persist(
      [
        delMeta(`host/${uuid}`),
        ...inventoryKeys(uuid).map((k) => delMeta(k)),
        putMeta(NEXT_HOST_ID, JSON.stringify(this.nextHostId)),
      ],
      undo,
    );
    this.onHostRemoved(uuid, record.zone);
    return record;
  }

  /** Replace a host's services (operator API); pushed to its relay. */
  async setServices(uuid: string, services: Service[]): Promise<HostRecord | undefined> {
    const record = this.hosts.get(uuid);
    if (record === undefined) return undefined;
    const next = { ...record, host: { ...record.host, services } };
    await this.commit(next);
    this.onHostChanged(next);
    return next;
  }

  /**
   * Meta ops for registry events carried by a batch; the caller writes them in
   * the batch's own store write at once, then calls `apply()` once it is
   * durable. Memory changes here already (see the invariant at the top), so
   * the next prepare or operator change builds on them; `apply()` sends the
   * config pushes, which must not precede durability.
   */
  prepare(events: readonly RegistryEvent[]): { ops: MetaOp[]; apply: () => void } {
    const changedHosts = new Set<string>();
    const changedKeys = new Set<string>();
    const pushed = new Set<string>();
    const setKv = (key: string, value: unknown): void => {
      this.kv.set(key, value);
      changedKeys.add(key);
    };
    for (const e of events) {
      switch (e.kind) {
        case 'heartbeat':
          if (this.seen(e)) changedHosts.add(e.uuid);
          break;
        case 'discover':
          if (this.discover(e)) {
            changedHosts.add(e.uuid);
            pushed.add(e.uuid);
          }
          break;
        case 'ports':
          setKv(`inv/ports/${e.uuid}`, e.ports);
          break;
        case 'asset':
          setKv(`inv/asset/${e.uuid}`, e.asset);
          break;
        case 'devices':
          setKv(`zone/${e.zone}/devices`, mergeById(this.zoneItems<NetDevice>(e.zone, 'devices'), e.devices));
          break;
        case 'portStatus':
          setKv(`zone/${e.zone}/ports`, mergeById(this.zoneItems<Port>(e.zone, 'ports'), e.ports));
          break;
      }
    }
    const ops: MetaOp[] = [];
    for (const uuid of changedHosts) ops.push(putMeta(`host/${uuid}`, JSON.stringify(this.hosts.get(uuid))));
    for (const key of changedKeys) ops.push(putMeta(key, JSON.stringify(this.kv.get(key))));
    return {
      ops,
      apply: () => {
        for (const uuid of pushed) {
          const r = this.hosts.get(uuid);
          if (r !== undefined) this.onHostChanged(r);
        }
      },
    };
  }

  /** A heartbeat: the host's last-seen time moves forward (true), or stays. */
  private seen(e: Extract<RegistryEvent, { kind: 'heartbeat' }>): boolean {
    const r = this.hosts.get(e.uuid);
    // A relay's clock may run ahead: a time past ours would keep a dead host up.
    const at = Math.min(e.atMs, this.options.now());
    if (r === undefined || at <= r.lastSeenMs) return false;
    this.hosts.set(e.uuid, { ...r, lastSeenMs: at });
    return true;
  }

  /** A metric discovered in a service: added to its items (true), unless unknown or already there. */
  private discover(e: Extract<RegistryEvent, { kind: 'discover' }>): boolean {
    const r = this.hosts.get(e.uuid);
    const services = r?.host.services ?? [];
    const i = services.findIndex((s) => s.name === e.service);
    const service = services[i];
    if (r === undefined || service === undefined || service.items?.[e.metric] !== undefined) return false;
    const updated: Service = {
      ...service,
      items: { ...service.items, [e.metric]: { key: e.metric, data_type: 'GAUGE' } },
    };
    const next = services.slice();
    next[i] = updated;
    this.hosts.set(e.uuid, { ...r, host: { ...r.host, services: next } });
    return true;
  }

  /** GETDEVICES / GETPORTS: answered by zone. */
  zoneItems<T>(zone: string, what: 'devices' | 'ports'): T[] {
    return (this.kv.get(`zone/${zone}/${what}`) as T[] | undefined) ?? [];
  }

  async setZoneItems(zone: string, what: 'devices' | 'ports', items: NetDevice[] | Port[]): Promise<void> {
    const key = `zone/${zone}/${what}`;
    await this.persist([putMeta(key, JSON.stringify(items))], [this.setKv(key, items)]);
    this.onZoneItemsChanged(zone, what, items);
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
    const key = `version/${platform}`;
    await this.persist([putMeta(key, JSON.stringify(version))], [this.setKv(key, version)]);
  }

  /** Put one host record: memory now, then the store. */
  private commit(record: HostRecord): Promise<void> {
    const uuid = record.host.uuid;
    return this.persist([putMeta(`host/${uuid}`, JSON.stringify(record))], [this.setHost(uuid, record)]);
  }

  /** Queue `ops`; if the write fails, run `undo` (newest first) and rethrow. */
  private async persist(ops: MetaOp[], undo: (() => void)[]): Promise<void> {
    try {
      await this.store.write([], { meta: ops });
    } catch (err) {
      for (const u of undo.reverse()) u();
      throw err;
    }
  }

  /** Set (or, with undefined, remove) a host in memory; returns what undoes it unless changed since. */
  private setHost(uuid: string, record: HostRecord | undefined): () => void {
    const before = this.hosts.get(uuid);
    if (record === undefined) this.hosts.delete(uuid);
    else this.hosts.set(uuid, record);
    return () => {
      if (this.hosts.get(uuid) !== record) return;
      if (before === undefined) this.hosts.delete(uuid);
      else this.hosts.set(uuid, before);
    };
  }

  /** As setHost, for a kv entry. */
  private setKv(key: string, value: unknown): () => void {
    const before = this.kv.get(key);
    if (value === undefined) this.kv.delete(key);
    else this.kv.set(key, value);
    return () => {
      if (this.kv.get(key) !== value) return;
      if (before === undefined) this.kv.delete(key);
      else this.kv.set(key, before);
    };
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
