/**
 * The operator API's firmware endpoints (docs/api.md, "Firmware"):
 *
 *   POST   /api/v1/firmware?zones=a,b&percent=N   body: the bundle file; publish (or re-target)
 *   GET    /api/v1/firmware                       publications, with the relays each is offered to
 *   DELETE /api/v1/firmware/<bundle>              withdraw
 *   GET    /api/v1/firmware/status                every relay's and agent's latest report
 *
 * A bundle refused at publish is answered with its firmware code: 413 when over the cap, 422
 * otherwise (bad signature, unknown key, corrupt, a program not delivered through relays).
 */
import type { IncomingMessage } from 'node:http';
import { FirmwareError, FirmwareErrorCode } from '../../firmware/index.js';
import { isBundleId } from '../../protocol/index.js';
import { HttpError, UpstreamErrorCode } from '../errors.js';
import type { RelayDirectory } from '../relays.js';
import { DIRECT_ZONE } from '../zones.js';
import type { FirmwareDelivery, Target } from './delivery.js';
import { offersFor } from './offers.js';
import { ALL_ZONES } from './publications.js';

export interface FirmwareApiDeps {
  firmware: FirmwareDelivery;
  relays: RelayDirectory;
  isConnected: (relay: string) => boolean;
}

/** A zone is a relay id: the syntax relays.ts enforces on ids. */
const ZONE = /^[A-Za-z0-9_-]{1,64}$/;

const badField = (message: string): HttpError => new HttpError(400, UpstreamErrorCode.BAD_FIELD, message);

/** The answer to a firmware request (`key`: method and path shape, as api.ts builds it), or undefined. */
export async function firmwareRoutes(
  deps: FirmwareApiDeps,
  req: IncomingMessage,
  url: URL,
  key: string,
  id: string | undefined,
): Promise<[number, unknown] | undefined> {
  const { firmware } = deps;
  switch (key) {
    case 'POST firmware': {
      const target = targetOf(url.searchParams);
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > firmware.maxBundleBytes) throw tooLarge(firmware.maxBundleBytes);
      try {
        const { publication, created } = await firmware.publish(req, target);
        return [created ? 201 : 200, publication];
      } catch (err) {
        throw asHttp(err);
      }
    }
    case 'GET firmware':
      return [200, publicationsView(deps)];
    case 'GET firmware/:id':
      if (id === 'status') return [200, statusView(deps)];
      return [200, onePublication(deps, id as string)];
    case 'DELETE firmware/:id': {
      const withdrawn = await firmware.withdraw(bundleId(id as string));
      if (withdrawn === undefined) throw notPublished(id as string);
      return [200, { bundle: withdrawn.bundle, withdrawn: true }];
    }
    default:
      return undefined;
  }
}

/** `zones` (required: relay ids or `*`, comma-separated) and `percent` (1..100, default 100). */
function targetOf(params: URLSearchParams): Target {
  const zonesText = params.get('zones');
  if (zonesText === null || zonesText.trim() === '')
    throw badField(`zones: required, relay ids separated by commas, or "${ALL_ZONES}" for every zone`);
  const zones = [...new Set(zonesText.split(',').map((z) => z.trim()))];
  for (const z of zones)
    if (z !== ALL_ZONES && !ZONE.test(z))
      throw badField(`zones: "${z}" is not a relay id (1-64 of [A-Za-z0-9_-]) nor "${ALL_ZONES}"`);
  const percentText = params.get('percent') ?? '100';
  const percent = Number(percentText);
  if (!/^\d+$/.test(percentText) || percent < 1 || percent > 100)
    throw badField(`percent: ${percentText} is not an integer from 1 to 100`);
  return { zones: zones.includes(ALL_ZONES) ? [ALL_ZONES] : zones.sort(), percent };
}

function bundleId(id: string): string {
  if (!isBundleId(id))
    throw badField(`bundle: ${id} is not a bundle id (the sha256 of the file, 64 lowercase hex digits)`);
  return id;
}

const notPublished = (id: string): HttpError =>
  new HttpError(404, UpstreamErrorCode.NOT_FOUND, `bundle ${id} is not published`);

const tooLarge = (max: number): HttpError =>
  new HttpError(
    413,
    FirmwareErrorCode.TOO_LARGE,
    `the bundle is over the upstream's cap of ${max} bytes (firmware.maxBundleBytes)`,
  );

/** A publish failure as an API answer: refusals keep their firmware code. */
function asHttp(err: unknown): unknown {
  if (!(err instanceof FirmwareError)) return err;
  const code = err.code as FirmwareErrorCode;
  if (code === FirmwareErrorCode.TOO_LARGE) return new HttpError(413, code, err.message);
  if (code === FirmwareErrorCode.IO) return new HttpError(500, code, err.message);
  return new HttpError(422, code, err.message);
}

/** Relays (not revoked) whose offer list holds each bundle, and `direct` for the upstream's own agents. */
function offeredTo(deps: FirmwareApiDeps): Map<string, string[]> {
  const list = deps.firmware.list();
  const to = new Map<string, string[]>(list.map((p) => [p.bundle, []]));
  for (const r of deps.relays.list()) {
    if (r.revokedAtMs !== undefined) continue;
    for (const o of offersFor(list, r.id)) to.get(o.bundle)?.push(r.id);
  }
  for (const o of offersFor(list, DIRECT_ZONE)) {
    if (o.program === 'owl-agent') to.get(o.bundle)?.push(DIRECT_ZONE);
  }
  return to;
}

function publicationsView(deps: FirmwareApiDeps): unknown[] {
  const to = offeredTo(deps);
  return deps.firmware.list().map((p) => ({ ...p, offeredTo: to.get(p.bundle) ?? [] }));
}

function onePublication(deps: FirmwareApiDeps, id: string): unknown {
  const p = deps.firmware.publications.get(bundleId(id));
  if (p === undefined) throw notPublished(id);
  return { ...p, offeredTo: offeredTo(deps).get(p.bundle) ?? [] };
}

/** One row per unit: who, through which relay, when, and its report's fields. */
function statusView(deps: FirmwareApiDeps): unknown {
  return {
    units: deps.firmware.status().map((u) => ({
      unit: u.unit,
      kind: u.kind,
      relay: u.relay,
      relayConnected: deps.isConnected(u.relay),
      reportedAt: u.reportedAt,
      ...u.report,
    })),
  };
}
