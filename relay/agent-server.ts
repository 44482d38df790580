/**
 * The relay's agent listener: plain TCP or TLS, IPv4 and IPv6, with caps on
 * connections in total and per source address. A connection over a cap gets
 * an ERROR (OWL_ERR_TOO_MANY_CONNECTIONS) and is closed at once, except when
 * its source is at its cap and one of that source's connections has been idle
 * for `evictIdleMs`: the longest-idle one is closed (OWL_ERR_IDLE_TIMEOUT)
 * and the new one admitted, so idle or half-dead connections from one address
 * (a NAT) cannot lock a restarted agent out of it.
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { once } from 'node:events';
import { encodePacket, ErrorCode, PacketType, SYSTEM_TIMERS, type OwlErrorCode } from '../protocol/index.js';
import { AgentConnection, type AgentDropOptions } from './agent-connection.js';
import type { AgentConnectionOptions } from './agent-sink.js';
import { unmapIPv4 } from './access.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Idle time after which a connection may give way to a new one from its source: a v3 HOSTHB period (30 s) and then some. */
export const DEFAULT_EVICT_IDLE_MS = 45_000;

export interface AgentServerOptions extends AgentConnectionOptions, AgentDropOptions {
  listen: ListenAddress[];
  /** TLS key/cert (and optionally CA for client certificates); plain TCP when absent. */
  tls?: TlsOptions;
  maxConnections: number;
  maxConnectionsPerSource: number;
  /** A source at its cap: a connection of it idle this long gives way to a new one (default DEFAULT_EVICT_IDLE_MS). */
  evictIdleMs?: number;
  onConnection?: (connection: AgentConnection) => void;
  /** A connection closed (whatever ended it). */
  onDisconnect?: (connection: AgentConnection) => void;
  onReject?: (address: string, code: OwlErrorCode) => void;
  /** A connection of `address` was closed to make room for a new one from it. */
  onEvict?: (address: string, evicted: AgentConnection, idleMs: number) => void;
}

export class AgentServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<AgentConnection>();
  private readonly perSource = new Map<string, Set<AgentConnection>>();
  private dropped = 0;
  private evicted = 0;
  private readonly connectionOptions: AgentServerOptions;

  constructor(private readonly options: AgentServerOptions) {
    this.connectionOptions = {
      ...options,
      onDroppedPacket: (connection, error) => {
        this.dropped++;
        options.onDroppedPacket?.(connection, error);
      },
    };
  }

  /** Well-framed packets with bad content dropped from v3 peers (their connections went on). */
  get droppedPackets(): number {
    return this.dropped;
  }

  /** Idle connections closed to admit a new one from their source. */
  get evictedConnections(): number {
    return this.evicted;
  }

  /** Number of open agent connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Open connections (for status and tests). */
  get openConnections(): ReadonlySet<AgentConnection> {
    return this.connections;
  }

  /** Start listening on every configured address; resolves with the bound addresses. */
  async start(): Promise<AddressInfo[]> {
    const bound: AddressInfo[] = [];
    for (const { host, port } of this.options.listen) {
      const server =
        this.options.tls === undefined
          ? createTcpServer({ allowHalfOpen: true, pauseOnConnect: false }, (s) => this.accept(s))
          : createTlsServer({ ...this.options.tls, allowHalfOpen: true }, (s) => this.accept(s));
      server.listen({ host, port, ipv6Only: host.includes(':') });
      await once(server, 'listening');
      this.servers.push(server);
      bound.push(server.address() as AddressInfo);
    }
    return bound;
  }

  /** Stop accepting, close every connection with an ERROR, wait for the sockets to close. */
  async stop(): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const connection of this.connections) connection.close(ErrorCode.OVERLOADED, 'relay shutting down');
    await Promise.all(closed);
    this.servers.length = 0;
  }

  private accept(socket: Socket): void {
    const source = unmapIPv4(socket.remoteAddress ?? '');
    let fromSource = this.perSource.get(source);
    if (
      this.connections.size >= this.options.maxConnections ||
      ((fromSource?.size ?? 0) >= this.options.maxConnectionsPerSource && !this.evictIdle(source))
    ) {
      this.options.onReject?.(source, ErrorCode.TOO_MANY_CONNECTIONS);
      socket.on('error', () => undefined);
      socket.end(
        encodePacket(PacketType.ERROR, {
          code: ErrorCode.TOO_MANY_CONNECTIONS,
          message: 'connection limit reached',
        }),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = new AgentConnection(socket, this.connectionOptions);
    if (fromSource === undefined) this.perSource.set(source, (fromSource = new Set()));
    fromSource.add(connection);
    this.connections.add(connection);
    const mine = fromSource;
    socket.once('close', () => {
      this.connections.delete(connection);
      mine.delete(connection);
      if (mine.size === 0 && this.perSource.get(source) === mine) this.perSource.delete(source);
      this.options.onDisconnect?.(connection);
    });
    this.options.onConnection?.(connection);
  }

  /**
   * `source` is at its cap: close its longest-idle connection if one has been idle for
   * `evictIdleMs`, making room. A connection already closing (evicted, or ending on an error)
   * is room already: its socket holds the slot only until the close completes. So each new
   * connection takes the room of one victim, never of the same one twice.
   */
  private evictIdle(source: string): boolean {
    const now = (this.options.timers ?? SYSTEM_TIMERS).now();
    const minIdle = this.options.evictIdleMs ?? DEFAULT_EVICT_IDLE_MS;
    let victim: AgentConnection | undefined;
    let longest = -1;
    let open = 0;
    for (const c of this.perSource.get(source) ?? []) {
      if (c.closed) continue;
      open++;
      const idle = c.idleMs(now);
      if (idle >= minIdle && idle > longest) {
        victim = c;
        longest = idle;
      }
    }
    if (open < this.options.maxConnectionsPerSource) return true;
    if (victim === undefined) return false;
    this.evicted++;
    victim.close(
      ErrorCode.IDLE_TIMEOUT,
      `idle for ${Math.round(longest / 1000)} s while a new connection from ${source} needed its slot`,
    );
    this.options.onEvict?.(source, victim, longest);
    return true;
  }
}
