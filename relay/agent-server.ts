/**
 * The relay's agent listener: plain TCP or TLS, IPv4 and IPv6, with caps on
 * connections in total and per source address. A connection over a cap gets
 * an ERROR (OWL_ERR_TOO_MANY_CONNECTIONS) and is closed at once.
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { once } from 'node:events';
import { encodePacket, ErrorCode, PacketType, type OwlErrorCode } from '../protocol/index.js';
import { AgentConnection } from './agent-connection.js';
import type { AgentConnectionOptions } from './agent-sink.js';
import { unmapIPv4 } from './access.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AgentServerOptions extends AgentConnectionOptions {
  listen: ListenAddress[];
  /** TLS key/cert (and optionally CA for client certificates); plain TCP when absent. */
  tls?: TlsOptions;
  maxConnections: number;
  maxConnectionsPerSource: number;
  onConnection?: (connection: AgentConnection) => void;
  onReject?: (address: string, code: OwlErrorCode) => void;
}

export class AgentServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<AgentConnection>();
  private readonly perSource = new Map<string, number>();

  constructor(private readonly options: AgentServerOptions) {}

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
    const fromSource = this.perSource.get(source) ?? 0;
    if (
      this.connections.size >= this.options.maxConnections ||
      fromSource >= this.options.maxConnectionsPerSource
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
    this.perSource.set(source, fromSource + 1);
    const connection = new AgentConnection(socket, this.options);
    this.connections.add(connection);
    socket.once('close', () => {
      this.connections.delete(connection);
      const left = (this.perSource.get(source) ?? 1) - 1;
      if (left === 0) this.perSource.delete(source);
      else this.perSource.set(source, left);
    });
    this.options.onConnection?.(connection);
  }
}
