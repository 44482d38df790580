/**
 * Agents' host configs at the relay: answered from the config cache at once,
 * refreshed from the upstream at most once per CONFIG_REFRESH_MS per host
 * (one request in flight per host), and kept in step with the upstream's
 * pushes and answers. The connections serving each host get a changed config
 * pushed to them.
 */
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import type { Host, HostConfigRequest } from '../protocol/index.js';
import type { AgentConnection } from './agent-connection.js';
import type { ConfigCache } from './config-cache.js';

/** A cached host's config is asked for again at most this often (when its agent asks). */
const CONFIG_REFRESH_MS = 10_000;

export interface HostConfigsOptions {
  cache: ConfigCache;
  /** Ask the upstream (its answer also reaches `onHostAnswer`, in order with the pushes). */
  ask(request: HostConfigRequest, source: string): Promise<Host | null>;
  log: Pick<Logger, 'info' | 'error'>;
  now: () => number;
  /** Hosts remembered in memory (when each was last refreshed). */
  hostsInMemory: number;
}

export class HostConfigs {
  private readonly agentsByUuid = new Map<string, Set<AgentConnection>>();
  private readonly refreshing = new Map<string, Promise<Host | null>>();
  /** Bounded: one entry per host that asked, like the config cache. */
  private readonly lastRefresh: LRUCache<string, number>;
  private readonly cache: ConfigCache;
  private readonly log: HostConfigsOptions['log'];
  private readonly now: () => number;
  private readonly ask: HostConfigsOptions['ask'];

  constructor(options: HostConfigsOptions) {
    this.cache = options.cache;
    this.log = options.log;
    this.now = options.now;
    this.ask = options.ask;
    this.lastRefresh = new LRUCache({ max: options.hostsInMemory });
  }

  async hostConfig(request: HostConfigRequest, source: string): Promise<Host | null> {
    const cached = await this.cache.getHost(request.uuid);
    // One upstream request per host at a time, and for a cached host at most one refresh per
    // interval: an agent repeating HOSTCONFIG must not multiply upstream traffic.
    let refresh = this.refreshing.get(request.uuid);
    const last = this.lastRefresh.get(request.uuid) ?? -Infinity;
    if (refresh === undefined && (cached === null || this.now() - last >= CONFIG_REFRESH_MS)) {
      this.lastRefresh.set(request.uuid, this.now());
      // The answer reaches the cache through onHostAnswer, in order with the pushes.
      refresh = this.ask(request, source).finally(() => this.refreshing.delete(request.uuid));
      this.refreshing.set(request.uuid, refresh);
    }
    if (cached !== null) {
      refresh?.catch(() => undefined);
      return cached;
    }
    return refresh === undefined ? null : refresh.catch(() => null);
  }

  attach(uuid: string, connection: AgentConnection): void {
    let set = this.agentsByUuid.get(uuid);
    if (set === undefined) {
      set = new Set();
      this.agentsByUuid.set(uuid, set);
    }
    set.add(connection);
  }

  detach(uuid: string, connection: AgentConnection): void {
    const set = this.agentsByUuid.get(uuid);
    if (set === undefined) return;
    set.delete(connection);
    if (set.size === 0) this.agentsByUuid.delete(uuid);
  }

  /**
   * CONFIG_PUSH. `null`: the host was deleted or moved to another zone, so it is
   * forgotten: its agents' HOSTCONFIGs go upstream and are answered only by
   * the upstream's answer, never by what was cached.
   */
  onConfigPush(uuid: string, host: Host | null): void {
    if (host === null) return this.forget(uuid, 'pushed');
    this.cache.setHost(host).then(
      (result) => {
        if (result !== 'same') this.pushToAgents(uuid, host);
      },
      (err: unknown) => this.log.error({ uuid, err: (err as Error).message }, 'config cache write failed'),
    );
  }

  /**
   * A HOSTCONFIG_RESP (null: no config for it) or OWL_ERR_FORBIDDEN_ZONE (null): the cache follows.
   * An answer can be newer than what the host's agents were given (it reflects the registry when
   * sent, which may already include a change whose push then finds nothing new): a changed config
   * goes to them as a push would. A first one does not: the agent that asked gets it as its answer.
   */
  onHostAnswer(uuid: string, host: Host | null): void {
    if (host === null) return this.forget(uuid, 'answered');
    this.cache.setHost(host).then(
      (result) => {
        if (result === 'changed') this.pushToAgents(uuid, host);
      },
      (err: unknown) => this.log.error({ uuid, err: (err as Error).message }, 'config cache write failed'),
    );
  }

  private pushToAgents(uuid: string, host: Host): void {
    for (const connection of this.agentsByUuid.get(uuid) ?? []) connection.pushConfig(host);
  }

  private forget(uuid: string, how: string): void {
    this.lastRefresh.delete(uuid);
    this.cache.deleteHost(uuid).then(
      (cached) => {
        if (cached) this.log.info({ uuid, how }, 'host config forgotten (deleted or moved upstream)');
      },
      (err: unknown) => this.log.error({ uuid, err: (err as Error).message }, 'config cache write failed'),
    );
  }
}
