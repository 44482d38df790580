/**
 * Host configs (HOSTCONFIGRESP bodies) and the latest agent version, kept so
 * the relay answers agents at once and keeps answering through upstream
 * outages and its own restarts.
 *
 * Layout (its own RocksDB, `<state>/config`): `h/<uuid>` → Host JSON,
 * `v` → latest agent version. An `lru-cache` in front holds the hot hosts;
 * RocksDB holds them all. Writes are not fsynced: a config lost to power
 * failure is fetched again from upstream, while a kill -9 loses nothing
 * (RocksDB's WAL is in the OS by then).
 */
import { mkdirSync } from 'node:fs';
import { RocksLevel } from '@nxtedition/rocksdb';
import { LRUCache } from 'lru-cache';
import type { Host } from '../protocol/index.js';

const HOST_PREFIX = 'h/';
const VERSION_KEY = 'v';

export interface ConfigCacheOptions {
  /** Directory of the cache's RocksDB. */
  path: string;
  /** Hosts held in memory. */
  maxHostsInMemory?: number;
}

export class ConfigCache {
  private readonly hot: LRUCache<string, Host>;
  private version: string | null = null;

  private constructor(
    private readonly db: RocksLevel<string, string>,
    maxHosts: number,
  ) {
    this.hot = new LRUCache({ max: maxHosts });
  }

  static async open(options: ConfigCacheOptions): Promise<ConfigCache> {
    mkdirSync(options.path, { recursive: true });
    const db = new RocksLevel<string, string>(options.path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    const cache = new ConfigCache(db, options.maxHostsInMemory ?? 50_000);
    cache.version = (await db.get(VERSION_KEY).catch(() => undefined)) ?? null;
    return cache;
  }

  /** The cached config of `uuid`, or null. */
  async getHost(uuid: string): Promise<Host | null> {
    const hot = this.hot.get(uuid);
    if (hot !== undefined) return hot;
    const stored = await this.db.get(HOST_PREFIX + uuid).catch(() => undefined);
    if (stored === undefined) return null;
    const host = JSON.parse(stored) as Host;
    this.hot.set(uuid, host);
    return host;
  }

  /** Store the config of `host.uuid`; returns true when it differs from what was cached. */
  async setHost(host: Host): Promise<boolean> {
    const json = JSON.stringify(host);
    const before = await this.getHost(host.uuid);
    if (before !== null && JSON.stringify(before) === json) return false;
    this.hot.set(host.uuid, host);
    await this.db.put(HOST_PREFIX + host.uuid, json);
    return true;
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

  async close(): Promise<void> {
    await this.db.close();
  }
}
