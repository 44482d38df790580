/**
 * The upstream's answers on a relay's CONFIG channel (docs/uplink.md 5.8-5.13):
 * host configs, the agent version, and the zone's inventories, always by the
 * relay's authenticated identity (its zone), never by what a request claims.
 */
import { ErrorCode, type UplinkMessage, type UplinkMessageOf } from '../protocol/index.js';
import type { Registry } from './registry.js';

type ConfigRequest =
  UplinkMessageOf<'HOSTCONFIG_REQ'> | UplinkMessageOf<'VERSION_REQ'> | UplinkMessageOf<'INVENTORY_REQ'>;

/** Answer a config request of the relay of `zone` through `send`. */
export function answerConfig(
  msg: ConfigRequest,
  zone: string,
  registry: Registry,
  send: (msg: UplinkMessage) => void,
): void {
  switch (msg.type) {
    case 'HOSTCONFIG_REQ':
      return answerHostConfig(msg.body, zone, registry, send);
    case 'VERSION_REQ':
      return send({
        type: 'VERSION_RESP',
        body: { id: msg.body.id, version: registry.version(msg.body.platform) ?? '' },
      });
    case 'INVENTORY_REQ': {
      const { id, what } = msg.body;
      const body =
        what === 'devices'
          ? { id, what, items: registry.zoneItems(zone, 'devices') }
          : { id, what, items: registry.zoneItems(zone, 'ports') };
      return send({ type: 'INVENTORY_RESP', body } as UplinkMessage);
    }
  }
}

function answerHostConfig(
  body: UplinkMessageOf<'HOSTCONFIG_REQ'>['body'],
  zone: string,
  registry: Registry,
  send: (msg: UplinkMessage) => void,
): void {
  const { id, uuid, request } = body;
  // Both the vouched uuid and the one the request registers must belong to this zone:
  // otherwise a relay could move another zone's host to itself.
  const existing = [uuid, request.uuid]
    .map((u) => registry.host(u))
    .find((h) => h !== undefined && h.zone !== zone);
  if (existing !== undefined) {
    const message = `host ${existing.host.uuid} belongs to zone ${existing.zone}`;
    return send({ type: 'CONFIG_ERROR', body: { id, code: ErrorCode.FORBIDDEN_ZONE, message } });
  }
  registry.hostConfig(request, zone).then(
    () => {
      // The registry as it is now, not as when this request was read: a delete or move
      // that committed meanwhile has already pushed its change to the relay, and an answer
      // sent after that push must not bring the old config back into its cache.
      const now = registry.host(request.uuid);
      const host = now !== undefined && now.zone === zone ? now.host : null;
      send({ type: 'HOSTCONFIG_RESP', body: { id, uuid, host } });
    },
    (err: unknown) =>
      send({ type: 'CONFIG_ERROR', body: { id, code: ErrorCode.INTERNAL, message: (err as Error).message } }),
  );
}
