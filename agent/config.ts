/**
 * owl-agent's configuration: JSON (default /etc/owl/agent.json), checked by
 * config-check.ts with one-line errors naming the file and the key. Every
 * key has a default, so `owl-agent run --relay host:port` needs no file.
 * Order of precedence: flags, then the file, then a v3 td-client's settings
 * (`v3Dir`, v3-migration.ts), then the defaults.
 */
import { readFile } from 'node:fs/promises';
import { check, ConfigError, type Rule } from './config-check.js';
import { AGENT_FIRMWARE_MAX_CHUNK_BYTES } from './firmware/index.js';
import { labelOf, parseHostPort, type RelayAddress, type RelayProtocol } from './link/address.js';
import type { V3Settings } from './v3-migration.js';

export const DEFAULT_CONFIG_PATH = '/etc/owl/agent.json';
/** The relay's default agent port (relay/config.ts). */
export const DEFAULT_RELAY_PORT = 7070;

export interface RelayEntry {
  address: string;
  protocol?: RelayProtocol;
  tls?: { ca?: string; servername?: string };
}

export interface AgentConfig {
  /** Relays (or v3 proxies/servers) to send to, nearest used: `host:port` or an entry. */
  relays: Array<string | RelayEntry>;
  /** The zone token sent in HELLO. */
  token?: string;
  stateDir: string;
  pluginDir: string;
  /** Seconds between built-in collector rounds; 0 turns them off. */
  collectInterval: number;
  /** Built-in collectors to run (default all). */
  collectors?: string[];
  /**
   * Seconds between rounds of one collector, where it differs from collectInterval (rounded to a
   * multiple of it). Default `{"tcp": 60}`: reading /proc/net/tcp{,6} makes the kernel walk its
   * whole TCP hash table (sized from RAM), 10 ms of CPU a round, most of the agent's own CPU.
   */
  collectorIntervals: Record<string, number>;
  /** Seconds between HOSTCONFIG/CLIENTVERSION requests. */
  hostUpdateInterval: number;
  heartbeatInterval: number;
  /** Seconds between checks, while on another relay, whether the nearest one answers again. */
  relayProbeInterval: number;
  /** Seconds without an ACK for the oldest batch before the connection is dropped (never below 10). */
  ackTimeout: number;
  /** Seconds a plugin may run (default: its interval, at most 60). */
  pluginTimeout?: number;
  buffer: { maxBytes: number; memoryBytes: number };
  batch: { maxSamples: number; lingerMs: number };
  /** Seconds between listening-port and hardware reports; 0 turns one off. */
  discovery: { portsInterval: number; assetsInterval: number };
  /** A v3 td-client directory to take over (v3-migration.ts). */
  v3Dir?: string;
  /** Firmware updates through the relay (docs/firmware-agent.md). */
  firmware: FirmwareConfig;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface FirmwareConfig {
  /**
   * The slot directory this agent runs from (`/opt/owl/agent`); default env OWL_FIRMWARE_ROOT.
   * Unset: not running from slots, updates off; the version is still reported.
   */
  root?: string;
  /** PEM files of the pinned public keys; none: every bundle is refused (secure by default). */
  keys: string[];
  /** Between FWCHECKs (reports and "anything for me?"). */
  checkIntervalMs: number;
  /** Bytes asked for per chunk (at most 192 KiB). */
  chunkBytes: number;
}

export function defaultAgentConfig(): AgentConfig {
  return {
    relays: [`127.0.0.1:${DEFAULT_RELAY_PORT}`],
    stateDir: '/var/lib/owl-agent',
    pluginDir: '/usr/lib/owl-agent/plugins',
    collectInterval: 10,
    collectorIntervals: { tcp: 60 },
    hostUpdateInterval: 300,
    heartbeatInterval: 30,
    ackTimeout: 30,
    relayProbeInterval: 60,
    buffer: { maxBytes: 64 * 1024 * 1024, memoryBytes: 1024 * 1024 },
    batch: { maxSamples: 1000, lingerMs: 200 },
    discovery: { portsInterval: 600, assetsInterval: 900 },
    firmware: {
      ...(process.env['OWL_FIRMWARE_ROOT'] ? { root: process.env['OWL_FIRMWARE_ROOT'] } : {}),
      keys: [],
      checkIntervalMs: 600_000,
      chunkBytes: AGENT_FIRMWARE_MAX_CHUNK_BYTES,
    },
    logLevel: 'info',
  };
}

const seconds = { type: 'integer', min: 0, max: 86_400 * 7 } as const;
const path = { type: 'string', minLength: 1 } as const;
const relayRule: Rule = {
  type: 'oneOf',
  describe: '"host:port" or {"address", "protocol", "tls"}',
  rules: [
    { type: 'string', minLength: 1 },
    {
      type: 'object',
      required: ['address'],
      props: {
        address: { type: 'string', minLength: 1 },
        protocol: { type: 'string', enum: ['auto', 'v4', 'v3'] },
        tls: { type: 'object', props: { ca: path, servername: { type: 'string', minLength: 1 } } },
      },
    },
  ],
};

export const AGENT_CONFIG_RULE: Rule = {
  type: 'object',
  props: {
    relays: { type: 'array', items: relayRule, minItems: 1 },
    token: { type: 'string' },
    stateDir: path,
    pluginDir: path,
    collectInterval: seconds,
    collectors: { type: 'array', items: { type: 'string', minLength: 1 } },
    collectorIntervals: { type: 'record', values: { type: 'integer', min: 1, max: 86_400 } },
    hostUpdateInterval: { type: 'integer', min: 10, max: 86_400 },
    heartbeatInterval: { type: 'integer', min: 1, max: 3600 },
    ackTimeout: { type: 'integer', min: 10, max: 3600 },
    relayProbeInterval: { type: 'integer', min: 1, max: 86_400 },
    pluginTimeout: { type: 'integer', min: 1, max: 3600 },
    buffer: {
      type: 'object',
      props: { maxBytes: { type: 'integer', min: 1 << 20 }, memoryBytes: { type: 'integer', min: 0 } },
    },
    batch: {
      type: 'object',
      props: {
        maxSamples: { type: 'integer', min: 1, max: 10_000 },
        lingerMs: { type: 'integer', min: 0, max: 60_000 },
      },
    },
    discovery: { type: 'object', props: { portsInterval: seconds, assetsInterval: seconds } },
    v3Dir: path,
    firmware: {
      type: 'object',
      props: {
        root: path,
        keys: { type: 'array', items: path },
        checkIntervalMs: { type: 'integer', min: 1000, max: 86_400_000 },
        chunkBytes: { type: 'integer', min: 1024, max: AGENT_FIRMWARE_MAX_CHUNK_BYTES },
      },
    },
    logLevel: { type: 'string', enum: ['debug', 'info', 'warn', 'error'] },
  },
};

export type AgentConfigInput = Partial<Omit<AgentConfig, 'buffer' | 'batch' | 'discovery' | 'firmware'>> & {
  buffer?: Partial<AgentConfig['buffer']>;
  firmware?: Partial<AgentConfig['firmware']>;
  batch?: Partial<AgentConfig['batch']>;
  discovery?: Partial<AgentConfig['discovery']>;
};

/** Read and check a config file; a missing file at the default path is an empty config. */
export async function readAgentConfigFile(file: string, required: boolean): Promise<AgentConfigInput> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return {};
    throw new ConfigError(`${file}: cannot read (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not JSON (${(err as Error).message})`);
  }
  return checkAgentConfig(value, file);
}

export function checkAgentConfig(value: unknown, file: string): AgentConfigInput {
  const err = check(value, AGENT_CONFIG_RULE, '');
  if (err) throw new ConfigError(`${file}: ${err}`);
  return value as AgentConfigInput;
}

/** Defaults ← v3 settings ← file ← flags. */
export function resolveAgentConfig(layers: AgentConfigInput[], v3?: V3Settings): AgentConfig {
  const out = defaultAgentConfig();
  const v3Layer: AgentConfigInput = v3
    ? {
        pluginDir: v3.pluginDir,
        ...(v3.relays ? { relays: v3.relays } : {}),
        ...(v3.hostUpdateInterval ? { hostUpdateInterval: v3.hostUpdateInterval } : {}),
      }
    : {};
  for (const layer of [v3Layer, ...layers]) {
    const { buffer, batch, discovery, collectorIntervals, firmware, ...rest } = layer;
    Object.assign(out, stripUndefined(rest));
    Object.assign(out.collectorIntervals, collectorIntervals ?? {});
    Object.assign(out.buffer, stripUndefined(buffer ?? {}));
    Object.assign(out.batch, stripUndefined(batch ?? {}));
    Object.assign(out.discovery, stripUndefined(discovery ?? {}));
    Object.assign(out.firmware, stripUndefined(firmware ?? {}));
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The relay list as addresses; TLS entries load node:tls (only then) and their CA. */
export async function relayAddresses(config: AgentConfig): Promise<RelayAddress[]> {
  const out: RelayAddress[] = [];
  for (const entry of config.relays) {
    const e: RelayEntry = typeof entry === 'string' ? { address: entry } : entry;
    let hp: { host: string; port: number };
    try {
      hp = parseHostPort(e.address, DEFAULT_RELAY_PORT);
    } catch (err) {
      throw new ConfigError(`relays: ${(err as Error).message}`);
    }
    const address: RelayAddress = { ...hp, protocol: e.protocol ?? 'auto', label: labelOf(hp.host, hp.port) };
    if (e.tls) address.tls = await tlsConnector(hp, e.tls);
    out.push(address);
  }
  return out;
}

async function tlsConnector(
  hp: { host: string; port: number },
  tls: NonNullable<RelayEntry['tls']>,
): Promise<NonNullable<RelayAddress['tls']>> {
  const { connect } = await import('node:tls');
  const ca = tls.ca ? await readFile(tls.ca) : undefined;
  const servername = tls.servername ?? (/^[\d.:]+$/.test(hp.host) ? undefined : hp.host);
  return {
    connect: () =>
      connect({ host: hp.host, port: hp.port, ...(ca ? { ca } : {}), ...(servername ? { servername } : {}) }),
  };
}
