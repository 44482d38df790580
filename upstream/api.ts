/**
 * Operator HTTP JSON API (docs/api.md). Every request carries
 * `Authorization: Bearer <api token>`. Bodies and answers are JSON.
 * The same listener serves the dashboard's files (upstream/dashboard/, docs/dashboard.md) to GETs
 * outside /api/, without the token: they hold no data, the page's own API calls carry it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import { defaultParser, PacketType, type NetDevice, type Port, type Service } from '../protocol/index.js';
import type { Registry, HostRecord, NewHost } from './registry.js';
import type { RelayDirectory } from './relays.js';
import type { RelayEndpoint } from './relay-endpoint.js';
import type { SinkSet } from './sink-set.js';
import { StoreError, StoreErrorCode, type SampleStore } from './store/index.js';
import { DIRECT_ZONE } from './zones.js';
import { HttpError, UpstreamErrorCode } from './errors.js';
import { createDashboardHandler, type DashboardHandler } from './dashboard/index.js';
import { firmwareRoutes, type FirmwareDelivery } from './firmware/index.js';

interface ApiDeps {
  token: string;
  registry: Registry;
  relays: RelayDirectory;
  endpoint: RelayEndpoint;
  store: SampleStore;
  /** Published firmware and the units' reports. */
  firmware: FirmwareDelivery;
  now: () => number;
  /** The configured sinks (absent: none). */
  sinks?: SinkSet;
  /** The dashboard's files (default: the page set of upstream/dashboard/). */
  dashboard?: DashboardHandler;
}

const MAX_BODY = 1024 * 1024;

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const tokenDigest = createHash('sha256').update(deps.token).digest();
  const authorized = (req: IncomingMessage): boolean => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return (
      m !== null &&
      timingSafeEqual(
        createHash('sha256')
          .update(m[1] as string)
          .digest(),
        tokenDigest,
      )
    );
  };
  const dashboard = deps.dashboard ?? createDashboardHandler();
  return (req, res) => {
    if (dashboard(req, res)) return;
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (!authorized(req))
      return reply(401, { code: UpstreamErrorCode.UNAUTHENTICATED, message: 'bad or missing API token' });
    route(deps, req).then(
      ([status, body]) => reply(status, body),
      (err: unknown) => {
        if (err instanceof HttpError) reply(err.status, { code: err.code, message: err.message });
        // A query the store refuses (from > to, a bad limit) is the caller's mistake, not ours.
        else if (err instanceof StoreError && err.code === StoreErrorCode.BAD_QUERY)
          reply(400, { code: err.code, message: err.message });
        else reply(500, { code: UpstreamErrorCode.INTERNAL, message: (err as Error).message });
      },
    );
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, UpstreamErrorCode.TOO_LARGE, 'body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString()) as unknown;
  } catch {
    throw new HttpError(400, UpstreamErrorCode.BAD_JSON, 'body is not JSON');
  }
}

/** A JSON body that must be an object (`null`, arrays and scalars are refused). */
async function readObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'body: must be a JSON object');
  return body as Record<string, unknown>;
}

function hostView(registry: Registry, r: HostRecord): unknown {
  return { ...r, status: registry.status(r) };
}

const badField = (message: string): HttpError => new HttpError(400, UpstreamErrorCode.BAD_FIELD, message);

/** A zone is a relay id (or `direct`): the syntax relays.ts enforces on ids. */
const ZONE = /^[A-Za-z0-9_-]{1,64}$/;
/** Agent UUIDs: printable, no whitespace, bounded (v3 agents send 32 hex digits). */
const UUID = /^[^\s\p{Cc}]{1,256}$/u;
const MAX_STRING = defaultParser.limits.maxStringLength;

/** Refuse fields a body may not carry (a typo must not be ignored silently). */
function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body))
    if (!allowed.includes(key)) throw badField(`${key}: unknown field (allowed: ${allowed.join(', ')})`);
}

function zoneField(value: unknown): string {
  if (typeof value !== 'string' || !ZONE.test(value))
    throw badField(`zone: must be a relay id (1-64 of [A-Za-z0-9_-]) or "${DIRECT_ZONE}"`);
  return value;
}

/** The body of `POST /hosts`, checked; services through the wire schema, as for `PUT …/services`. */
function newHost(body: Record<string, unknown>): NewHost {
  onlyFields(body, ['uuid', 'zone', 'hostname', 'services']);
  const { uuid, zone, hostname, services } = body;
  if (typeof uuid !== 'string' || !UUID.test(uuid))
    throw badField('uuid: must be a string of 1-256 characters without spaces or control characters');
  if (hostname !== undefined && (typeof hostname !== 'string' || hostname.length > MAX_STRING))
    throw badField(`hostname: must be a string of at most ${MAX_STRING} characters`);
  if (services !== undefined) {
    try {
      defaultParser.validateBody(PacketType.HOSTCONFIGRESP, { uuid, services });
    } catch (err) {
      throw badField((err as Error).message);
    }
  }
  return {
    uuid,
    // A host added without a zone is served by the upstream's own agent listener.
    zone: zone === undefined ? DIRECT_ZONE : zoneField(zone),
    ...(hostname === undefined ? {} : { hostname: hostname as string }),
    ...(services === undefined || services === null ? {} : { services: services as Service[] }),
  };
}

/** `1h`, `30m`, `2d`, `45s` → ms. */
function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (m === null) throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, `not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(m[1]) * unit;
}

/** A request, parsed: `key` is its method and path shape (`PUT hosts/:id/zone`). */
interface Call {
  deps: ApiDeps;
  req: IncomingMessage;
  url: URL;
  key: string;
  id: string | undefined;
  sub: string | undefined;
}

type Answer = [number, unknown];

async function route(deps: ApiDeps, req: IncomingMessage): Promise<Answer> {
  const call = parseCall(deps, req);
  const answer =
    (await hostRoutes(call)) ??
    (await relayRoutes(call)) ??
    (await dataRoutes(call)) ??
    (await zoneRoutes(call)) ??
    (await firmwareRoutes(
      { firmware: deps.firmware, relays: deps.relays, isConnected: (id) => deps.endpoint.isConnected(id) },
      req,
      call.url,
      call.key,
      call.id,
    ));
  if (answer !== undefined) return answer;
  throw new HttpError(
    404,
    UpstreamErrorCode.NOT_FOUND,
    `no such endpoint: ${req.method ?? 'GET'} ${call.url.pathname}`,
  );
}

function parseCall(deps: ApiDeps, req: IncomingMessage): Call {
  const url = new URL(req.url ?? '/', 'http://api');
  let parts: string[];
  try {
    parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
  } catch {
    throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'path: malformed percent-encoding');
  }
  const method = req.method ?? 'GET';
  if (parts[0] !== 'api' || parts[1] !== 'v1' || parts.length > 5)
    throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such endpoint');
  const [, , resource, id, sub] = parts;
  const key = `${method} ${resource ?? ''}${id === undefined ? '' : '/:id'}${sub === undefined ? '' : `/${sub}`}`;
  return { deps, req, url, key, id, sub };
}

/** Hosts: list, read, add, move, delete, services, ports, asset. */
async function hostRoutes({ deps, req, key, id }: Call): Promise<Answer | undefined> {
  const { registry } = deps;
  switch (key) {
    case 'GET hosts':
      return [200, registry.list().map((r) => hostView(registry, r))];
    case 'GET hosts/:id': {
      const r = registry.host(id as string);
      if (r === undefined) throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such host');
      return [200, hostView(registry, r)];
    }
    case 'PUT hosts/:id/services': {
      const services = await readJson(req);
      // Validate through the wire schema: a HOSTCONFIGRESP carrying these services must be valid.
      try {
        defaultParser.validateBody(PacketType.HOSTCONFIGRESP, { uuid: id, services });
      } catch (err) {
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, (err as Error).message);
      }
      const r = await registry.setServices(id as string, services as Service[]);
      if (r === undefined) throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such host');
      return [200, hostView(registry, r)];
    }
    case 'POST hosts': {
      const spec = newHost(await readObject(req));
      const r = await registry.addHost(spec);
      if (r === undefined)
        throw new HttpError(409, UpstreamErrorCode.CONFLICT, `host ${spec.uuid} already exists`);
      return [201, hostView(registry, r)];
    }
    case 'PUT hosts/:id/zone': {
      const body = await readObject(req);
      onlyFields(body, ['zone']);
      const r = await registry.moveHost(id as string, zoneField(body.zone));
      if (r === undefined) throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such host');
      return [200, hostView(registry, r)];
    }
    case 'DELETE hosts/:id':
      if ((await registry.deleteHost(id as string)) === undefined)
        throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such host');
      return [200, { uuid: id, deleted: true }];
    case 'GET hosts/:id/ports':
      return [200, registry.ports(id as string)];
    case 'GET hosts/:id/asset':
      return [200, registry.asset(id as string) ?? null];
    default:
      return undefined;
  }
}

/** Relays: list with their live state, add (a new token), revoke. */
async function relayRoutes({ deps, req, key, id }: Call): Promise<Answer | undefined> {
  const { relays, endpoint } = deps;
  switch (key) {
    case 'GET relays':
      return [
        200,
        relays.list().map((r) => ({
          id: r.id,
          createdAtMs: r.createdAtMs,
          revoked: r.revokedAtMs !== undefined,
          connected: endpoint.isConnected(r.id),
          live: endpoint.connected().find((c) => c.id === r.id) ?? null,
          // Store failures survive reconnects: a relay whose batches keep failing shows it here.
          store: endpoint.relayHealth(r.id) ?? null,
        })),
      ];
    case 'POST relays': {
      const body = await readObject(req);
      if (typeof body.id !== 'string')
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'id: must be a string');
      try {
        return [201, { id: body.id, token: await relays.add(body.id, deps.now()) }];
      } catch (err) {
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, (err as Error).message);
      }
    }
    case 'DELETE relays/:id':
      if (!(await relays.revoke(id as string, deps.now())))
        throw new HttpError(404, UpstreamErrorCode.NOT_FOUND, 'no such relay');
      endpoint.disconnect(id as string, 'relay revoked');
      return [200, { id, revoked: true }];
    default:
      return undefined;
  }
}

/** The stored samples: series, queries, totals. */
async function dataRoutes({ deps, url, key }: Call): Promise<Answer | undefined> {
  const { registry, endpoint, store } = deps;
  switch (key) {
    case 'GET sinks':
      return [200, (await deps.sinks?.view()) ?? []];
    case 'GET series': {
      const metric = url.searchParams.get('metric');
      const prefix = url.searchParams.get('prefix');
      const limit = Number(url.searchParams.get('limit') ?? 1000);
      return [
        200,
        await store.listSeries({
          ...(metric === null ? {} : { metric }),
          ...(prefix === null ? {} : { prefix }),
          limit,
        }),
      ];
    }
    case 'GET query': {
      const metric = url.searchParams.get('metric');
      if (metric === null) throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'metric: required');
      const now = deps.now();
      const since = url.searchParams.get('since');
      const fromMs = since !== null ? now - parseDuration(since) : Number(url.searchParams.get('from') ?? 0);
      const toMs = Number(url.searchParams.get('to') ?? now + 1);
      const tags: Record<string, string> = {};
      for (const [k, v] of url.searchParams) if (k.startsWith('tag.')) tags[k.slice(4)] = v;
      return [200, await store.query({ metric, tags, fromMs, toMs })];
    }
    case 'GET stats': {
      // `points` and `samples` from one store answer, counted together as writes are folded: the
      // endpoint's running total of samples, read after the await, would include writes acked
      // since the store counted its points.
      const { series, points, samples } = await store.stats();
      return [
        200,
        {
          series,
          points,
          hosts: registry.size,
          relaysConnected: endpoint.connected().length,
          ...endpoint.totals,
          samples,
        },
      ];
    }
    default:
      return undefined;
  }
}

/** Zones' v3 proxy items and the latest agent version. */
async function zoneRoutes({ deps, req, key, id, sub }: Call): Promise<Answer | undefined> {
  const { registry } = deps;
  switch (key) {
    case 'GET zones/:id/devices':
      return [200, registry.zoneItems<NetDevice>(id as string, 'devices')];
    case 'GET zones/:id/ports':
      return [200, registry.zoneItems<Port>(id as string, 'ports')];
    case 'PUT zones/:id/devices':
    case 'PUT zones/:id/ports': {
      const items = await readJson(req);
      const type = sub === 'devices' ? PacketType.GETDEVICESRESP : PacketType.GETPORTSRESP;
      try {
        defaultParser.validateBody(type, items);
      } catch (err) {
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, (err as Error).message);
      }
      await registry.setZoneItems(id as string, sub as 'devices' | 'ports', items as NetDevice[]);
      return [200, items];
    }
    case 'PUT version': {
      const body = await readObject(req);
      if (typeof body.version !== 'string')
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'version: must be a string');
      if (body.platform !== undefined && typeof body.platform !== 'string')
        throw new HttpError(400, UpstreamErrorCode.BAD_FIELD, 'platform: must be a string');
      await registry.setVersion(body.version, typeof body.platform === 'string' ? body.platform : '');
      return [200, { version: body.version }];
    }
    default:
      return undefined;
  }
}
