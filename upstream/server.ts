/**
 * The upstream process: relay endpoint (WebSocket), direct agent endpoint
 * (the relay's own agent-side code, no second copy), operator API, over one
 * embedded store that also holds the registry and the de-duplication record.
 *
 * TLS: one certificate for all three listeners. mTLS (`tls.requestCert` with
 * `tls.ca`) is on the uplink listener only, where every client is a relay
 * with a certificate: the handshake refuses a relay without one signed by
 * `tls.ca`, and the relay endpoint matches its name to the relay id. The
 * operator API (bearer token, reached by scripts and curl) and the agent
 * listener (v3 agents have no certificates) do not ask for one.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import {
  createPacketParser,
  FrameDecoder,
  type Host,
  type HostConfigRequest,
  type NetDevice,
  type Port,
} from '../protocol/index.js';
import {
  AccessPolicy,
  AgentServer,
  PacketDrops,
  probe,
  readiness,
  type Readiness,
  BatchDedupe,
  unmapIPv4,
  type AgentConnection,
  type SpoolRequest,
} from '../relay/index.js';
import { loadPublicKeys } from '../firmware/index.js';
import { lockStateDir, type StateLock } from '../rocks/index.js';
import { createApiHandler } from './api.js';
import { assertUpstreamFiles, UpstreamConfigError, upstreamPaths, type UpstreamConfig } from './config.js';
import { SessionDraft, StoredRanges } from './dedupe.js';
import { directAgentFirmware, FirmwareDelivery, RelayFirmware } from './firmware/index.js';
import { ingest } from './ingest.js';
import { UpstreamMetrics } from './metrics.js';
import { Registry } from './registry.js';
import { RelayDirectory } from './relays.js';
import { RelayEndpoint } from './relay-endpoint.js';
import { forwardOptions, SinkSet } from './sink-set.js';
import { RocksSampleStore, WorkerSampleStore, type SampleStore, type WalTailCut } from './store/index.js';
import { DIRECT_ZONE } from './zones.js';

export interface UpstreamStartOptions {
  logger?: Logger;
  now?: () => number;
  /** See RelayEndpointOptions.afterStore. */
  afterStore?: (relay: string, firstSeq: number, lastSeq: number) => void;
  /** See RelayEndpointOptions.afterWrite. */
  afterWrite?: (relay: string, firstSeq: number, lastSeq: number) => void;
  /** The store's limit of points per write (tests: small, to make batches take several writes). */
  maxWritePoints?: number;
}

export class Upstream {
  readonly endpoint: RelayEndpoint;
  readonly agents: AgentServer;
  readonly metrics: UpstreamMetrics;
  /** The configured sinks' runners; undefined when there are none. */
  readonly sinks: SinkSet | undefined;
  private uplinkServer: Server | undefined;
  private apiServer: Server | undefined;
  private agentAddrs: AddressInfo[] = [];
  private readonly direct = new Map<string, Set<AgentConnection>>();
  private readonly retentionTimer: NodeJS.Timeout;

  private constructor(
    readonly config: UpstreamConfig,
    readonly store: SampleStore,
    readonly registry: Registry,
    readonly relays: RelayDirectory,
    readonly ranges: StoredRanges,
    readonly apiToken: string,
    /** Published firmware bundles and the firmware state relays and agents report. */
    readonly firmware: FirmwareDelivery,
    private readonly stateLock: StateLock,
    readonly log: Logger,
    private readonly now: () => number,
    hooks: Pick<UpstreamStartOptions, 'afterStore' | 'afterWrite'>,
  ) {
    this.metrics = new UpstreamMetrics({
      relays: () => this.endpoint.connected(),
      agents: () => this.agents.connectionCount,
      ...(config.sinks.length === 0 ? {} : { forward: () => store.forwardStats() }),
      firmwareUnits: () => firmware.status().map((u) => u.report),
    });
    this.sinks =
      config.sinks.length === 0
        ? undefined
        : new SinkSet(config.sinks, store, log.child({ part: 'sinks' }), this.metrics);
    this.endpoint = new RelayEndpoint({
      metrics: this.metrics,
      store,
      ranges,
      registry,
      relays,
      log: log.child({ part: 'uplink' }),
      window: config.relayWindow,
      maxInflightBatches: config.maxInflightBatches,
      requireClientCert: config.tls?.requestCert === true,
      heartbeatMs: config.uplinkHeartbeatMs,
      overlapWrites: store instanceof WorkerSampleStore,
      ...(hooks.afterStore === undefined ? {} : { afterStore: hooks.afterStore }),
      ...(hooks.afterWrite === undefined ? {} : { afterWrite: hooks.afterWrite }),
    });
    this.endpoint.useFirmware(
      new RelayFirmware(firmware, {
        sent: (relay, bytes) => this.metrics.firmwareBytes.inc({ relay }, bytes),
        refused: (code) => this.metrics.firmwareErrors.inc({ code }),
      }),
    );
    const relayPush = registry.onHostChanged;
    registry.onHostChanged = (record) => {
      if (record.zone === DIRECT_ZONE) {
        for (const c of this.direct.get(record.host.uuid) ?? []) c.pushConfig(record.host);
      } else relayPush(record);
    };
    this.agents = this.directAgents(config, registry, log);
    this.retentionTimer = setInterval(() => {
      const cutoff = this.now() - config.retentionDays * 86_400_000;
      store
        .applyRetention(cutoff)
        .catch((err: unknown) => log.error({ err: (err as Error).message }, 'retention failed'));
    }, 3_600_000);
    this.retentionTimer.unref();
  }

  /** The upstream's own agent listener: agents and v3 proxies of the direct zone, no relay between. */
  private directAgents(config: UpstreamConfig, registry: Registry, log: Logger): AgentServer {
    const proxies = new Map(Object.entries(config.v3Proxies).map(([addr, zone]) => [unmapIPv4(addr), zone]));
    const zoneOf = (source: string): string => proxies.get(unmapIPv4(source)) ?? DIRECT_ZONE;
    const drops = new PacketDrops({ log, now: this.now });
    return new AgentServer({
      listen: config.agents,
      ...(config.tls === undefined
        ? {}
        : { tls: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } }),
      maxConnections: 20_000,
      // As the relay's default: a zone behind NAT is hundreds of hosts behind one address.
      maxConnectionsPerSource: 1024,
      parser: createPacketParser(),
      // v3 proxies carry no credentials either: they are admitted by address like v3 agents.
      access: new AccessPolicy(
        [...config.v3Allow, ...[...proxies.keys()].map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`))],
        undefined,
      ),
      dedupe: new BatchDedupe(),
      sink: {
        spool: (requests) => this.ingestDirect(requests, zoneOf(requests[0]?.source ?? '')),
        hostConfig: (request, source) => this.hostConfig(request, zoneOf(source)),
        clientVersion: () => registry.version(),
        zoneItems: (what, source) => {
          const zone = proxies.get(unmapIPv4(source));
          if (zone === undefined) return null;
          return what === 'devices'
            ? registry.zoneItems<NetDevice>(zone, what)
            : registry.zoneItems<Port>(zone, what);
        },
        attach: (uuid, c) => {
          let set = this.direct.get(uuid);
          if (set === undefined) this.direct.set(uuid, (set = new Set()));
          set.add(c);
        },
        detach: (uuid, c) => {
          const set = this.direct.get(uuid);
          set?.delete(c);
          if (set?.size === 0) this.direct.delete(uuid);
        },
        firmware: directAgentFirmware(this.firmware, {
          onServed: (bytes) => this.metrics.firmwareBytes.inc({ relay: DIRECT_ZONE }, bytes),
          now: this.now,
        }),
      },
      idleTimeoutMs: 3 * config.heartbeatMs,
      maxPendingPackets: 4096,
      maxWriteBacklogBytes: 4 * 1024 * 1024,
      onError: (c, error) =>
        log.info({ agent: c.remoteAddress, code: error.code, why: error.message }, 'agent connection error'),
      onDroppedPacket: (c, error) => drops.dropped(c.remoteAddress, error),
    });
  }

  static async start(config: UpstreamConfig, options: UpstreamStartOptions = {}): Promise<Upstream> {
    if (config.tls?.requestCert === true && config.tls.ca === undefined) {
      throw new UpstreamConfigError('tls.requestCert needs tls.ca, the CA that signs relay certificates');
    }
    assertUpstreamFiles(config);
    const log = options.logger ?? pino({ name: 'owl-upstream', level: config.logLevel });
    const now = options.now ?? Date.now;
    const paths = upstreamPaths(config);
    mkdirSync(config.stateDir, { recursive: true });
    // Before anything in the state dir is touched: OWL_ERR_STATE_LOCKED when another upstream holds it.
    const lock = await lockStateDir(config.stateDir, 'owl-upstream');
    /** What a failed start closes, newest first. */
    const opened: Array<() => Promise<void>> = [() => lock.release()];
    try {
      const store = await openStore(config, paths.store, options, log);
      opened.unshift(() => store.close());
      const registry = await Registry.open(store, {
        autoRegister: config.autoRegister,
        heartbeatMs: config.heartbeatMs,
        missedHeartbeats: config.missedHeartbeats,
        now,
      });
      const relays = await RelayDirectory.open(store);
      const apiToken = config.apiToken ?? loadOrMakeToken(paths.apiToken);
      const firmware = await openFirmware(config, log, now);
      opened.unshift(() => firmware.close());
      const up = new Upstream(
        config,
        store,
        registry,
        relays,
        new StoredRanges(store),
        apiToken,
        firmware,
        lock,
        log,
        now,
        options,
      );
      opened.splice(0, opened.length, () => up.stop());
      up.sinks?.start();
      await up.listen();
      log.info(
        {
          uplink: up.uplinkAddress,
          api: up.apiAddress,
          agents: up.agentAddrs,
          metrics: up.metricsAddress ?? null,
          sinks: config.sinks.map((s) => s.name),
          store: config.store,
        },
        'upstream started',
      );
      return up;
    } catch (err) {
      for (const close of opened) await close().catch(() => undefined);
      throw err;
    }
  }

  /** Open the uplink, API and agent listeners. */
  private async listen(): Promise<void> {
    const { config, log } = this;
    const tls =
      config.tls === undefined
        ? undefined
        : { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
    const notFound = (_req: unknown, res: { writeHead: (n: number) => { end: () => void } }): void => {
      res.writeHead(404).end();
    };
    if (config.tls?.ca !== undefined && config.tls.requestCert !== true) {
      log.warn({}, 'tls.ca is set without tls.requestCert: relays are not asked for certificates');
    }
    const uplinkTls: HttpsServerOptions | undefined =
      tls !== undefined && config.tls?.ca !== undefined && config.tls.requestCert === true
        ? { ...tls, ca: readFileSync(config.tls.ca), requestCert: true, rejectUnauthorized: true }
        : tls;
    this.uplinkServer =
      uplinkTls === undefined ? createHttpServer(notFound) : createHttpsServer(uplinkTls, notFound);
    // A relay refused by the handshake never reaches the endpoint: say so here. Without a
    // certificate OpenSSL fails the handshake (err.code); with an untrusted one Node drops the
    // socket after it, and only `authorizationError` says why (the address is gone by then).
    this.uplinkServer.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      log.warn(
        {
          part: 'uplink',
          remote: socket.remoteAddress,
          why: socket.authorizationError ?? err.code,
          err: err.message,
        },
        'relay TLS handshake refused',
      );
    });
    this.endpoint.attach(this.uplinkServer);
    this.uplinkServer.listen(config.uplink.port, config.uplink.host);
    await once(this.uplinkServer, 'listening');
    if (uplinkTls === undefined && !isLoopback(config.uplink.host)) {
      log.warn(
        { part: 'uplink', uplink: this.uplinkAddress },
        'uplink listener serves plain ws:// on a non-loopback address: relay tokens and samples cross the network unencrypted (set tls)',
      );
    }
    const api = createApiHandler({
      token: this.apiToken,
      registry: this.registry,
      relays: this.relays,
      endpoint: this.endpoint,
      store: this.store,
      firmware: this.firmware,
      now: this.now,
      ...(this.sinks === undefined ? {} : { sinks: this.sinks }),
    });
    this.apiServer = tls === undefined ? createHttpServer(api) : createHttpsServer(tls, api);
    this.apiServer.listen(config.api.port, config.api.host);
    await once(this.apiServer, 'listening');
    this.agentAddrs = await this.agents.start();
    if (config.metrics.enabled)
      await this.metrics.listen(config.metrics.host, config.metrics.port, () => this.readiness());
  }

  /** Ready: the store answers, and the uplink, API and agent listeners are up. */
  private async readiness(): Promise<Readiness> {
    // A meta key never written: a read through the store's worker and database, nothing more.
    const store = await probe(this.store.getMeta('readyz-probe'), 'store');
    const down = [
      ...(this.uplinkServer?.listening === true ? [] : ['uplink']),
      ...(this.apiServer?.listening === true ? [] : ['api']),
      ...(this.agentAddrs.length === this.config.agents.length ? [] : ['agents']),
    ];
    const listeners =
      down.length === 0
        ? { ok: true, detail: 'up' }
        : { ok: false, detail: `not listening: ${down.join(', ')}` };
    return readiness({ store, listeners });
  }

  get uplinkAddress(): AddressInfo {
    return this.uplinkServer?.address() as AddressInfo;
  }

  get apiAddress(): AddressInfo {
    return this.apiServer?.address() as AddressInfo;
  }

  get agentAddresses(): AddressInfo[] {
    return this.agentAddrs;
  }

  /** The metrics listener's address (port 0 resolved), undefined when metrics are off. */
  get metricsAddress(): AddressInfo | undefined {
    return this.metrics.address;
  }

  /** The URL relays use. */
  get uplinkUrl(): string {
    const a = this.uplinkAddress;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return `${this.config.tls === undefined ? 'ws' : 'wss'}://${host}:${a.port}/owl/v1/uplink`;
  }

  private async hostConfig(request: HostConfigRequest, zone: string): Promise<Host | null> {
    const existing = this.registry.host(request.uuid);
    // A host registered through a relay keeps its zone; a direct request for it is still answered.
    return this.registry.hostConfig(request, existing?.zone ?? zone);
  }

  /** Packets from a directly connected agent: stored (with registry changes) in one durable write. */
  private async ingestDirect(requests: SpoolRequest[], zone: string): Promise<void> {
    const now = this.now();
    // A run of frames (SpoolRequest.frames) is split back into its packets.
    const records = requests.flatMap((r) =>
      (r.frames === undefined ? [r] : new FrameDecoder().push(r.body)).map((p) => ({
        type: p.type,
        body: p.body,
        uuid: r.uuid,
        src: r.source,
        receivedAtMs: now,
      })),
    );
    const result = ingest(records, zone);
    const sessions = new SessionDraft(this.ranges);
    const points = await sessions.keep(result);
    const reg = this.registry.prepare(result.events);
    const timed = this.metrics.storeWrites.startTimer();
    await this.store.write(points, { meta: [...sessions.ops(), ...reg.ops] }).catch((err: unknown) => {
      this.metrics.storeWriteFailures.inc();
      throw err;
    });
    timed();
    this.metrics.samples.inc({ zone }, points.length);
    sessions.commit();
    reg.apply();
  }

  async stop(): Promise<void> {
    // First: an in-flight send is abandoned unacked, before the store closes under it.
    await this.sinks?.stop();
    clearInterval(this.retentionTimer);
    await this.metrics.close();
    await this.agents.stop();
    await this.endpoint.close();
    const close = (s: Server | undefined): Promise<void> =>
      s === undefined ? Promise.resolve() : new Promise((resolve) => s.close(() => resolve()));
    this.uplinkServer?.closeAllConnections();
    this.apiServer?.closeAllConnections();
    await Promise.all([close(this.uplinkServer), close(this.apiServer)]);
    await this.firmware.close();
    await this.store.close();
    await this.stateLock.release();
    this.log.info({}, 'upstream stopped');
  }
}

/** Open the upstream's sample store. */
async function openStore(
  config: UpstreamConfig,
  location: string,
  options: UpstreamStartOptions,
  log: Logger,
): Promise<SampleStore> {
  // In a worker by default: the binding's synced write blocks the calling thread (rocksdb-facts.md).
  const onWalTailCut = (cut: WalTailCut): void =>
    log.warn(
      { ...cut, part: 'store' },
      'store: damaged WAL tail cut before recovery; the data before it is kept',
    );
  const forward = forwardOptions(config);
  const storeOptions = {
    location,
    onWalTailCut,
    ...(forward === undefined ? {} : { forward }),
    ...(config.store === 'none' ? { keepSamples: false } : {}),
    ...(options.maxWritePoints === undefined ? {} : { maxWritePoints: options.maxWritePoints }),
  };
  return config.storeWorker ? WorkerSampleStore.open(storeOptions) : RocksSampleStore.open(storeOptions);
}

/** Firmware delivery on `<stateDir>/firmware`, with the pinned keys of `firmware.keys`. */
async function openFirmware(
  config: UpstreamConfig,
  log: Logger,
  now: () => number,
): Promise<FirmwareDelivery> {
  let keys;
  try {
    keys = loadPublicKeys(config.firmware.keys);
  } catch (err) {
    throw new UpstreamConfigError(`firmware.keys: ${(err as Error).message}`, null);
  }
  return FirmwareDelivery.open({
    dir: join(config.stateDir, 'firmware'),
    maxBundleBytes: config.firmware.maxBundleBytes,
    keys,
    log: log.child({ part: 'firmware' }),
    now,
  });
}

/** The API token kept in the state dir, made at first start. */
function loadOrMakeToken(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

/** A listen host only this machine reaches (a name other than localhost is taken as reachable). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || host === '::ffff:127.0.0.1';
}
