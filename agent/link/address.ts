/**
 * Where the agent sends: a relay (or a v3 proxy or server) as `host:port`,
 * with the protocol to speak and optionally TLS. `auto` says HELLO and falls
 * back to v3 when nothing answers it; `v3` never says HELLO (for a v3 peer
 * that closes on an unknown packet type).
 */
import type { Socket } from 'node:net';

export type RelayProtocol = 'auto' | 'v4' | 'v3';

export interface RelayTls {
  /** Opens the TLS socket (node:tls is loaded only when a relay uses TLS). */
  connect(): Socket;
}

export interface RelayAddress {
  host: string;
  port: number;
  protocol: RelayProtocol;
  /** `host:port`, for logs and status. */
  label: string;
  tls?: RelayTls;
}

/** Parse `host:port`, `[v6]:port` or `host` (with `defaultPort`); throws on anything else. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m || !m[1]) throw new Error(`"${text}" is not host:port`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${text}": port must be 1-65535`);
  return { host: m[1], port };
}

export function labelOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
