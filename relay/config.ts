/**
 * Relay configuration: a JSON file validated against a schema, defaults for
 * everything, CLI flags on top. Every path is overridable (tests put state
 * in a temp dir).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayError, RelayErrorCode } from './errors.js';
import {
  compileConfigSchema,
  parseConfigJson,
  FIRMWARE_DEFAULT_CHUNK_BYTES,
  FIRMWARE_MAX_CHUNK_BYTES,
  ZSTD_MAX_LEVEL,
  type ConfigSchema,
} from '../protocol/index.js';
import type { SpoolPolicy } from './spool/index.js';

export interface RelayConfig {
  /** This relay's id at the upstream (its zone); empty by default: a relay without one refuses to start. */
  relayId: string;
  /** Uplink token (from `owl-upstream relay add`); empty by default: a relay without one refuses to start. */
  token: string;
  /** Upstream WebSocket URLs, tried in order (`ws://` or `wss://`). */
  upstreams: string[];
  /** State directory: spool and config cache live below it. */
  stateDir: string;
  /** Agent listeners. */
  listen: { host: string; port: number }[];
  /** TLS for agents: PEM file paths. */
  agentTls?: { cert: string; key: string; ca?: string; requestCert?: boolean };
  /** TLS for the uplink: CA to trust and an optional client certificate (mTLS). */
  uplinkTls?: { ca?: string; cert?: string; key?: string };
  /** Zone token v4 agents present in HELLO. Absent: any HELLO is accepted. */
  zoneToken?: string;
  /** CIDRs from which v3 agents (no HELLO, no credentials) are accepted. */
  v3Allow: string[];
  maxConnections: number;
  maxConnectionsPerSource: number;
  /** Close an agent that completes no frame for this long (3 v3 heartbeat periods by default). */
  idleTimeoutMs: number;
  maxFrameBytes: number;
  /**
   * compressLevel: zstd level (0–19, 0 = off) for each turn's packets as spooled; the uplink sends
   * them as they are. worker: run RocksDB in a worker thread, so its synced commits never stall
   * agent handling.
   */
  spool: { maxBytes: number; maxAgeMs: number; policy: SpoolPolicy; compressLevel: number; worker: boolean };
  /** maxSamples: most samples in one batch (the upstream may ask for fewer in WELCOME). */
  batch: { maxRecords: number; maxBytes: number; maxSamples: number; lingerMs: number; compress: boolean };
  /** Prometheus /metrics, /healthz and /readyz: on by default, on loopback (port 0: any free port, logged). */
  metrics: { enabled: boolean; host: string; port: number };
  /**
   * Uplink reconnects: jittered exponential backoff from initialMs up to maxMs between attempts
   * (docs/uplink.md section 2). A long cap keeps hundreds of relays from hammering an upstream
   * that is down; a relay is back within maxMs of its return.
   */
  reconnect: { initialMs: number; maxMs: number };
  /** Period of the outage and agent-connection summary lines while anything goes on. */
  logSummaryMs: number;
  /**
   * Zone duties (relay/zone-duties.ts): polling the zone's SNMP devices and checking its host
   * ports, as the upstream's zone inventory lists them.
   */
  zone: ZoneSettings;
  /** What the relay may hold in memory: sized for a gateway (512 MB-1 GB for everything) by default. */
  memory: RelayMemoryConfig;
  /** Firmware delivery (relay/firmware/, docs/firmware-delivery.md). */
  firmware: RelayFirmwareConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/**
 * Memory knobs (docs/benchmarks.md, "Relay memory", says where the memory goes and what each
 * default saved). The first two act on the process and take effect when `owl-relay run` starts
 * Node with them (relay/process-settings.ts); the rest are bounds inside the relay.
 */
interface RelayMemoryConfig {
  /**
   * V8 semi-space of the main thread, MiB (node --max-semi-space-size; the young generation is
   * about three of them). Node 24 grows it to 64 MiB under load, and each collection then finds
   * tens of MiB of dead socket reads; at 2 MiB they are freed within milliseconds. 0: V8's own.
   */
  semiSpaceMiB: number;
  /**
   * glibc malloc arenas (MALLOC_ARENA_MAX). glibc's default, 8 per core, gives each of the
   * relay's threads (RocksDB's, libuv's, the spool worker) its own heap, whose free chunks stay
   * resident; 2 keeps them few. 0: glibc's own.
   */
  mallocArenas: number;
  /** V8 young generation of the spool's worker thread, MiB (Worker resourceLimits). */
  spoolWorkerYoungMiB: number;
  /**
   * Bytes agents sent that are not yet durable: past this every agent connection stops reading.
   * What it holds is mostly compressed records (a tenth of these bytes); a smaller gate pauses
   * agents more often, and reads held in paused sockets live longer: at 8 MiB the v3 bench held
   * more memory (214 against 195 MiB) and sent 11.0 instead of 10.0 uplink bytes per sample.
   */
  ingestBytes: number;
  /**
   * Just-appended records the uplink keeps in memory to send live (beyond it, live records are
   * read back from the spool); intake is held while more than half of it waits, connected.
   */
  liveTailBytes: number;
  /**
   * Hosts remembered in memory: configs (all of them stay in RocksDB), when each was last
   * refreshed, and agent sessions' ACKed batches (LRU each; lru-cache allocates its tables up front).
   */
  hostsInMemory: number;
}

/**
 * Firmware bundles fetched over the uplink, cached for the zone's agents, and the relay's own
 * updates installed into its A/B slots (docs/firmware-delivery.md, "Relay").
 */
export interface RelayFirmwareConfig {
  /**
   * The relay's slot directory (`/opt/owl/owl-relay`): set, the relay runs from slots, reports the
   * version `current` names and installs its own updates there. Default: env OWL_FIRMWARE_ROOT,
   * else none (own updates are not installed; agent bundles are still cached and served).
   */
  root?: string;
  /** Pinned public keys (PEM file paths). None: every own bundle is refused (secure by default). */
  keys: string[];
  /** Most share of the uplink's time a transfer may take (0.25: it waits 3× each chunk's time). */
  share: number;
  /** Bytes asked for per chunk request (256 KiB). */
  chunkBytes: number;
  /** Disk cap of the offered bundles kept (512 MiB); an offer that does not fit is refused. */
  maxCacheBytes: number;
  /** How long a new version has to become healthy after the switch (firmware/slots default, 3 min). */
  healthTimeoutMs?: number;
}

export interface ZoneSettings {
  enabled: boolean;
  /** Device polls at once. */
  concurrency: number;
  portIntervalMs: number;
  portTimeoutMs: number;
  portConcurrency: number;
  /** How often the inventory is asked for again while connected (pushes come between). */
  refreshMs: number;
}

const DEFAULT_STATE_DIR = '/var/lib/owl-relay';

export function defaultRelayConfig(): RelayConfig {
  return {
    relayId: '',
    token: '',
    upstreams: ['ws://127.0.0.1:7080/owl/v1/uplink'],
    stateDir: DEFAULT_STATE_DIR,
    listen: [
      { host: '0.0.0.0', port: 7070 },
      { host: '::', port: 7070 },
    ],
    v3Allow: ['127.0.0.0/8', '::1/128'],
    maxConnections: 20_000,
    // A zone behind NAT is hundreds of hosts behind one address.
    maxConnectionsPerSource: 1024,
    idleTimeoutMs: 90_000,
    maxFrameBytes: 1024 * 1024,
    spool: {
      maxBytes: 1024 ** 3,
      maxAgeMs: 7 * 24 * 3600 * 1000,
      policy: 'drop-oldest',
      compressLevel: 3,
      worker: true,
    },
    // Big batches: deflate finds each series' repeats within one batch (about 8.5 bytes a sample).
    batch: {
      maxRecords: 20_000,
      maxBytes: 2 * 1024 * 1024,
      maxSamples: 50_000,
      lingerMs: 50,
      compress: true,
    },
    metrics: { enabled: true, host: '127.0.0.1', port: 9464 },
    reconnect: { initialMs: 100, maxMs: 30_000 },
    logSummaryMs: 60_000,
    zone: {
      enabled: true,
      concurrency: 64,
      portIntervalMs: 60_000,
      portTimeoutMs: 3_000,
      portConcurrency: 64,
      refreshMs: 300_000,
    },
    memory: {
      semiSpaceMiB: 2,
      mallocArenas: 2,
      spoolWorkerYoungMiB: 6,
      ingestBytes: 32 * 1024 * 1024,
      liveTailBytes: 4 * 1024 * 1024,
      hostsInMemory: 10_000,
    },
    firmware: {
      keys: [],
      share: 0.25,
      chunkBytes: FIRMWARE_DEFAULT_CHUNK_BYTES,
      maxCacheBytes: 512 * 1024 * 1024,
    },
    logLevel: 'info',
  };
}

// docs/uplink.md: no dot, the first dot of the Authorization header splits id and token.
const RELAY_ID = /^[A-Za-z0-9_-]{1,64}$/;
// docs/uplink.md: RFC 6750's b64token alphabet, 1-1024 characters (protocol/uplink/auth.ts).
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN = 1024;
// upstream/zones.ts DIRECT_ZONE: `owl-upstream relay add` refuses it.
const RESERVED_ID = 'direct';

const positive = { type: 'integer', minimum: 1 } as const;
const pathString = { type: 'string', minLength: 1 } as const;
const schema: ConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    relayId: { type: 'string', pattern: RELAY_ID.source },
    token: { type: 'string' },
    upstreams: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^wss?://' } },
    stateDir: pathString,
    listen: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['host', 'port'],
        properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 0, maximum: 65535 } },
      },
    },
    agentTls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: { cert: pathString, key: pathString, ca: pathString, requestCert: { type: 'boolean' } },
    },
    uplinkTls: {
      type: 'object',
      additionalProperties: false,
      properties: { ca: pathString, cert: pathString, key: pathString },
    },
    zoneToken: { type: 'string', minLength: 8 },
    v3Allow: { type: 'array', items: { type: 'string' } },
    maxConnections: positive,
    maxConnectionsPerSource: positive,
    idleTimeoutMs: positive,
    maxFrameBytes: { type: 'integer', minimum: 64, maximum: 64 * 1024 * 1024 },
    spool: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxBytes: { type: 'integer', minimum: 1024 * 1024 },
        maxAgeMs: positive,
        policy: { enum: ['drop-oldest', 'reject-new'] },
        compressLevel: { type: 'integer', minimum: 0, maximum: ZSTD_MAX_LEVEL },
        worker: { type: 'boolean' },
      },
    },
    batch: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxRecords: positive,
        maxBytes: { type: 'integer', minimum: 1024 },
        maxSamples: positive,
        lingerMs: { type: 'integer', minimum: 0 },
        compress: { type: 'boolean' },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        host: { type: 'string' },
        port: { type: 'integer', minimum: 0 },
      },
    },
    logSummaryMs: { type: 'integer', minimum: 100 },
    zone: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        concurrency: { type: 'integer', minimum: 1, maximum: 4096 },
        portIntervalMs: { type: 'integer', minimum: 100 },
        portTimeoutMs: { type: 'integer', minimum: 10, maximum: 60_000 },
        portConcurrency: { type: 'integer', minimum: 1, maximum: 4096 },
        refreshMs: { type: 'integer', minimum: 1000 },
      },
    },
    reconnect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        initialMs: { type: 'integer', minimum: 1 },
        maxMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
      },
    },
    memory: {
      type: 'object',
      additionalProperties: false,
      properties: {
        semiSpaceMiB: { type: 'integer', minimum: 0, maximum: 256 },
        mallocArenas: { type: 'integer', minimum: 0, maximum: 64 },
        spoolWorkerYoungMiB: { type: 'integer', minimum: 1, maximum: 256 },
        ingestBytes: { type: 'integer', minimum: 1024 * 1024 },
        liveTailBytes: { type: 'integer', minimum: 256 * 1024 },
        hostsInMemory: { type: 'integer', minimum: 100 },
      },
    },
    firmware: {
      type: 'object',
      additionalProperties: false,
      properties: {
        root: pathString,
        keys: { type: 'array', items: pathString },
        share: { type: 'number', minimum: 0.01, maximum: 1 },
        chunkBytes: { type: 'integer', minimum: 1024, maximum: FIRMWARE_MAX_CHUNK_BYTES },
        maxCacheBytes: { type: 'integer', minimum: 1024 * 1024 },
        healthTimeoutMs: { type: 'integer', minimum: 1000 },
      },
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
};

const checkSchema = compileConfigSchema(schema);

export type RelayConfigInput = Partial<
  Omit<RelayConfig, 'spool' | 'batch' | 'metrics' | 'memory' | 'reconnect' | 'zone' | 'firmware'>
> & {
  firmware?: Partial<RelayConfig['firmware']>;
  zone?: Partial<RelayConfig['zone']>;
  reconnect?: Partial<RelayConfig['reconnect']>;
  spool?: Partial<RelayConfig['spool']>;
  batch?: Partial<RelayConfig['batch']>;
  metrics?: Partial<RelayConfig['metrics']>;
  memory?: Partial<RelayConfig['memory']>;
};

/**
 * Merge `input` over the defaults and validate; throws OWL_ERR_CONFIG_INVALID naming every bad
 * key, after `source` (the file, or what else gave `input`).
 */
export function resolveRelayConfig(input: RelayConfigInput, source = 'relay config'): RelayConfig {
  const problem = checkSchema(input);
  if (problem !== undefined) throw new RelayError(RelayErrorCode.CONFIG_INVALID, `${source}: ${problem}`);
  const base = defaultRelayConfig();
  return {
    ...base,
    ...input,
    spool: { ...base.spool, ...input.spool },
    batch: { ...base.batch, ...input.batch },
    metrics: { ...base.metrics, ...input.metrics },
    memory: { ...base.memory, ...input.memory },
    reconnect: { ...base.reconnect, ...input.reconnect },
    zone: { ...base.zone, ...input.zone },
    firmware: firmwareSettings(base.firmware, input.firmware),
  } as RelayConfig;
}

/** The firmware section: the root from env OWL_FIRMWARE_ROOT when the config names none. */
function firmwareSettings(
  base: RelayFirmwareConfig,
  input: Partial<RelayFirmwareConfig> | undefined,
): RelayFirmwareConfig {
  const merged = { ...base, ...input };
  const fromEnv = process.env['OWL_FIRMWARE_ROOT'];
  if (merged.root === undefined && fromEnv !== undefined && fromEnv !== '') merged.root = fromEnv;
  return merged;
}

/**
 * Read a JSON config file (if given) and apply `overrides` (CLI flags) on top. A problem in the
 * file is reported naming the file (a syntax error with its line and column), one in the flags
 * naming the command line.
 */
export function loadRelayConfig(file: string | undefined, overrides: RelayConfigInput = {}): RelayConfig {
  const fromFile = file === undefined ? {} : readConfigFile(file);
  return resolveRelayConfig(
    {
      ...fromFile,
      ...overrides,
      spool: { ...fromFile.spool, ...overrides.spool },
      batch: { ...fromFile.batch, ...overrides.batch },
      metrics: { ...fromFile.metrics, ...overrides.metrics },
      memory: { ...fromFile.memory, ...overrides.memory },
      reconnect: { ...fromFile.reconnect, ...overrides.reconnect },
      zone: { ...fromFile.zone, ...overrides.zone },
      firmware: { ...fromFile.firmware, ...overrides.firmware },
    },
    'command line',
  );
}

function readConfigFile(file: string): RelayConfigInput {
  const invalid = (problem: string): RelayError =>
    new RelayError(RelayErrorCode.CONFIG_INVALID, `${file}: ${problem}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseConfigJson(text);
  if ('problem' in parsed) throw invalid(parsed.problem);
  const problem = checkSchema(parsed.value);
  if (problem !== undefined) throw invalid(problem);
  return parsed.value as RelayConfigInput;
}

/**
 * What a start needs beyond the schema: an id and a usable token (a relay without them would
 * spool until its cap and then drop), and readable TLS files. Throws OWL_ERR_CONFIG_INVALID,
 * one line naming the key and saying how to mend it.
 */
export function assertRunnable(config: RelayConfig): void {
  const invalid = (problem: string): RelayError => new RelayError(RelayErrorCode.CONFIG_INVALID, problem);
  const add = `get one with \`owl-upstream relay add ${config.relayId || '<id>'}\` on the upstream`;
  if (config.relayId === '') {
    throw invalid(`relayId: not set; --relay-id or "relayId": this relay's id at the upstream (${add})`);
  }
  if (!RELAY_ID.test(config.relayId)) {
    throw invalid(`relayId: must be 1-64 of [A-Za-z0-9_-], not ${JSON.stringify(config.relayId)}`);
  }
  if (config.relayId === RESERVED_ID) {
    throw invalid(`relayId: "${RESERVED_ID}" is reserved for agents connected to the upstream itself`);
  }
  if (config.token === '') {
    throw invalid(`token: not set; --token or "token": the relay's uplink token (${add})`);
  }
  if (config.token.length > MAX_TOKEN || !TOKEN.test(config.token)) {
    throw invalid(`token: not an uplink token (1-${MAX_TOKEN} of [A-Za-z0-9-._~+/], then =); ${add}`);
  }
  const unreadable = unreadableFile({
    'agentTls.cert': config.agentTls?.cert,
    'agentTls.key': config.agentTls?.key,
    'agentTls.ca': config.agentTls?.ca,
    'uplinkTls.ca': config.uplinkTls?.ca,
    'uplinkTls.cert': config.uplinkTls?.cert,
    'uplinkTls.key': config.uplinkTls?.key,
    ...Object.fromEntries(config.firmware.keys.map((k, i) => [`firmware.keys[${i}]`, k])),
  });
  if (unreadable !== undefined) throw new RelayError(RelayErrorCode.CONFIG_INVALID, unreadable);
}

/**
 * The first of `files` (config key → path; unset ones skipped) that cannot be read, as the line
 * to say (`tls.cert: cannot read /x/y.pem: ENOENT`), or undefined. The relay's and the upstream's
 * starts both check their TLS files with it before opening anything.
 */
export function unreadableFile(files: Record<string, string | undefined>): string | undefined {
  for (const [key, path] of Object.entries(files)) {
    if (path === undefined) continue;
    try {
      readFileSync(path);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return `${key}: cannot read ${path}: ${why}`;
    }
  }
  return undefined;
}

/** Where the relay keeps each kind of state. */
export function statePaths(config: RelayConfig): { spool: string; config: string; firmware: string } {
  return {
    spool: join(config.stateDir, 'spool'),
    config: join(config.stateDir, 'config'),
    firmware: join(config.stateDir, 'firmware'),
  };
}
