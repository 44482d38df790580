/**
 * Host configs (HOSTCONFIGRESP bodies) and the latest agent version, kept so
 * the relay answers agents at once and keeps answering through upstream
 * outages and its own restarts.
 *
 * Layout (its own RocksDB, `<state>/config`): `h/<uuid>` → Host JSON,
 * `v` → latest agent version, `z/devices` and `z/ports` → the zone's
 * inventory (what the relay polls and checks, through outages and restarts). An `lru-cache` in front holds the hot hosts;
 * RocksDB holds them all. Writes are not fsynced: a config lost to power
 * failure is fetched again from upstream, while a kill -9 loses nothing
 * (RocksDB's WAL is in the OS by then). A forgotten host (deleted upstream or
 * moved to another zone) is deleted from both; a delete lost to power failure
 * is repaired by the next refresh, which the upstream answers with null or
 * OWL_ERR_FORBIDDEN_ZONE.
 *
 * Ordering: the uplink delivers a host's answers and pushes in the order the
 * upstream sent them, and the last one must win. So the writes of one uuid run
 * one after another in call order (a per-uuid chain), and reads see every
 * write already called for (`issued`), durable or not. A read that went to
 * RocksDB while a write to the same uuid ran could return what that write
 * replaced: it is re-read rather than put in memory.
 */
import { mkdirSync } from 'node:fs';
import { RocksLevel } from '@nxtedition/rocksdb';
import { LRUCache } from 'lru-cache';
import type { Host, NetDevice, Port } from '../protocol/index.js';
import { cutDamagedWalTails } from '../rocks/index.js';
import type { SpoolLogger } from './spool/index.js';

const HOST_PREFIX = 'h/';
/**
 * RocksDB sized for a few MB of configs: a 1 MiB memtable (the binding's default is RocksDB's
 * 64 MiB), a 2 MiB block cache (default 8 MiB) and no WAL compression (a zstd stream kept per
 * WAL for writes of a few KB).
 */
const CACHE_DB_OPTIONS = {
  compaction: 'level',
  memtableMemoryBudget: 4 << 20,
  cacheSize: 2 << 20,
  walCompression: false,
} as const;
const VERSION_KEY = 'v';

export interface ConfigCacheOptions {
  /** Directory of the cache's RocksDB. */
  path: string;
  /** Hosts held in memory. */
  maxHostsInMemory?: number;
  /** Told when a damaged WAL tail is cut before opening (as the spool does: RocksDB can loop on one). */
  logger?: Pick<SpoolLogger, 'warn'>;
  /** Clock for the name of the folder the cut bytes go to. */
  now?: () => number;
}

export class ConfigCache {
  private readonly hot: LRUCache<string, Host>;
  private version: string | null = null;
  /** Per uuid: the value of the last write called for, and the tail of its write chain. Removed when idle. */
  private readonly issued = new Map<string, { value: Host | null; tail: Promise<unknown> }>();
  /** Counts host writes started, so a RocksDB read overlapping one is detected. */
  private writes = 0;

  private constructor(
    private readonly db: RocksLevel<string, string>,
    maxHosts: number,
  ) {
    this.hot = new LRUCache({ max: maxHosts });
  }

  static async open(options: ConfigCacheOptions): Promise<ConfigCache> {
    mkdirSync(options.path, { recursive: true });
    const saveDir = `${options.path}.damaged-${(options.now ?? Date.now)()}`;
    for (const c of cutDamagedWalTails(options.path, saveDir)) {
      options.logger?.warn(
        { dir: options.path, ...c },
        'config cache: damaged WAL tail cut before recovery; the configs before it are kept',
      );
    }
    const db = new RocksLevel<string, string>(options.path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open(CACHE_DB_OPTIONS);
    const cache = new ConfigCache(db, options.maxHostsInMemory ?? 10_000);
    cache.version = (await db.get(VERSION_KEY).catch(() => undefined)) ?? null;
    return cache;
  }

  /** The cached config of `uuid`, or null. Reflects every setHost/deleteHost already called. */
  async getHost(uuid: string): Promise<Host | null> {
    const pending = this.issued.get(uuid);
    if (pending !== undefined) return pending.value;
    return this.current(uuid, false);
  }

  /**
   * Store the config of `host.uuid`; resolves with what it did: `same` (already cached so),
   * `new` (nothing was cached) or `changed`.
   */
  setHost(host: Host): Promise<'same' | 'new' | 'changed'> {
    const json = JSON.stringify(host);
    return this.enqueue(host.uuid, host, async () => {
      const before = await this.current(host.uuid, true);
      if (before !== null && JSON.stringify(before) === json) return 'same';
      this.writes++;
      this.hot.set(host.uuid, host);
      await this.db.put(HOST_PREFIX + host.uuid, json);
      return before === null ? 'new' : 'changed';
    });
  }

  /** Forget `uuid` (memory and disk); resolves with true when it was cached. */
  deleteHost(uuid: string): Promise<boolean> {
    return this.enqueue(uuid, null, async () => {
      const before = await this.current(uuid, true);
      this.writes++;
      this.hot.delete(uuid);
      await this.db.del(HOST_PREFIX + uuid);
      return before !== null;
    });
  }

  /** Number of hosts stored. */
  async hostCount(): Promise<number> {
    let n = 0;
    for await (const _key of this.db.keys({ gte: HOST_PREFIX, lt: 'h0' })) n++;
    return n;
  }

  /** Latest agent version told by upstream, or null. */
  get clientVersion(): string | null {
    return this.version;
  }

  async setClientVersion(version: string): Promise<void> {
    this.version = version;
    await this.db.put(VERSION_KEY, version);
  }

  /** The zone's devices or ports as last told by the upstream, or null when never told. */
  async getInventory(what: 'devices'): Promise<NetDevice[] | null>;
  async getInventory(what: 'ports'): Promise<Port[] | null>;
  async getInventory(what: 'devices' | 'ports'): Promise<NetDevice[] | Port[] | null> {
    const raw = await this.db.get(`z/${what}`).catch(() => undefined);
    return raw === undefined ? null : (JSON.parse(raw) as NetDevice[] | Port[]);
  }

  async setInventory(what: 'devices' | 'ports', items: NetDevice[] | Port[]): Promise<void> {
    await this.db.put(`z/${what}`, JSON.stringify(items));
  }

  /** Close once every host write called for has finished. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.issued.values()].map((p) => p.tail));
    await this.db.close();
  }

  /**
   * What memory or RocksDB holds now, ignoring writes not yet started. `owned`: called from
   * the uuid's own write chain, so no write to it can overlap the read.
   */
  private async current(uuid: string, owned: boolean): Promise<Host | null> {
    for (let attempt = 0; ; attempt++) {
      const hot = this.hot.get(uuid);
      if (hot !== undefined) return hot;
      const writes = this.writes;
      const stored = await this.db.get(HOST_PREFIX + uuid).catch(() => undefined);
      const host = stored === undefined ? null : (JSON.parse(stored) as Host);
      if (owned || this.writes === writes) {
        if (host !== null) this.hot.set(uuid, host);
        return host;
      }
      // A write ran meanwhile (maybe to this uuid): the value read may be the one it replaced.
      const pending = this.issued.get(uuid);
      if (pending !== undefined) return pending.value;
      if (attempt >= 2) return host; // writes keep coming; not cached, so nothing stale stays
    }
  }

  /** Run `write` for `uuid` after the writes called for before it; reads see `value` from now on. */
  private enqueue<T>(uuid: string, value: Host | null, write: () => Promise<T>): Promise<T> {
    const previous = this.issued.get(uuid)?.tail ?? Promise.resolve();
    const result = previous.then(write, write);
    const entry = { value, tail: result.catch(() => undefined) };
    this.issued.set(uuid, entry);
    void entry.tail.then(() => {
      if (this.issued.get(uuid) === entry) this.issued.delete(uuid);
    });
    return result;
  }
}
