/**
 * JSON Schemas of every packet body, compiled by ajv. Objects never forbid
 * additional properties: a newer peer's extra fields must not break us.
 * Numbers must be finite (ajv `strictNumbers`); strings and lists are capped
 * by `ProtocolLimits`.
 */
import { PacketType } from './packet-types.js';
import type { ProtocolLimits } from './limits.js';

type Schema = Record<string, unknown>;

export function packetSchemas(limits: ProtocolLimits): Map<PacketType, Schema> {
  const str: Schema = { type: 'string', maxLength: limits.maxStringLength };
  const num: Schema = { type: 'number' };
  const int: Schema = { type: 'integer' };
  const uint: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
  const id: Schema = { type: ['integer', 'string'], maxLength: limits.maxStringLength };
  const strOrNum: Schema = { type: ['string', 'number'], maxLength: limits.maxStringLength };
  const bool: Schema = { type: 'boolean' };
  const dataType: Schema = { enum: ['GAUGE', 'COUNTER', 'DERIVE'] };
  const list = (items: Schema): Schema => ({ type: ['array', 'null'], maxItems: limits.maxItems, items });
  const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
    type: 'object',
    properties,
    required,
  });
  const map = (values: Schema): Schema => ({
    type: ['object', 'null'],
    maxProperties: limits.maxItems,
    propertyNames: { maxLength: limits.maxStringLength },
    additionalProperties: values,
  });

  const service = obj(
    {
      id,
      name: str,
      plugin: str,
      args: str,
      exec_interval: num,
      items: map(obj({ key: str, data_type: dataType }, ['key', 'data_type'])),
    },
    ['name', 'plugin', 'exec_interval'],
  );
  const host = obj(
    { id, uuid: str, assest_id: id, ip: str, group: str, proxy: str, services: list(service) },
    ['uuid'],
  );
  const iface = obj({ id, index: int, name: str, status: int, mac: str, speed: num });
  const netDevice = obj(
    {
      id,
      uuid: str,
      ip: str,
      proxy: str,
      snmp_version: str,
      snmp_community: str,
      snmp_port: int,
      update_interval: num,
      check_interval: num,
      interfaces: map(iface),
      custom_oids: map(obj({ id, name: str, oid: str }, ['name', 'oid'])),
    },
    ['ip'],
  );
  const port = obj(
    { id, ip: str, port: { type: 'integer', minimum: 0, maximum: 65535 }, proc_name: str, status: int },
    ['port'],
  );
  const proxyQuery = obj({ proxy: str }, ['proxy']);
  const tags: Schema = {
    type: 'object',
    maxProperties: 64,
    propertyNames: { maxLength: limits.maxStringLength },
    additionalProperties: str,
  };
  const batchSample: Schema = {
    ...obj(
      {
        uuid: str,
        ip: str,
        service_name: str,
        metric: str,
        value: num,
        timestamp: num,
        timestamp_ms: uint,
        data_type: dataType,
        tags,
        flag: int,
      },
      ['metric', 'value'],
    ),
    oneOf: [{ required: ['timestamp'] }, { required: ['timestamp_ms'] }],
  };

  return new Map<PacketType, Schema>([
    [
      PacketType.HOSTCONFIG,
      obj({ uuid: str, proxy: str, ip: str, hostname: str, kernel: str, os: str, idrac_addr: str }, ['uuid']),
    ],
    [PacketType.HOSTCONFIGRESP, host],
    [PacketType.CLIENTVERSIONRESP, obj({ version: str }, ['version'])],
    [
      PacketType.SERIESDATA,
      obj(
        {
          uuid: str,
          ip: str,
          group: str,
          timestamp: num,
          service_name: str,
          metric: str,
          value: num,
          flag: int,
        },
        ['uuid', 'timestamp', 'metric', 'value'],
      ),
    ],
    [PacketType.GETDEVICES, proxyQuery],
    [PacketType.GETDEVICESRESP, list(netDevice)],
    [PacketType.GETPORTS, proxyQuery],
    [PacketType.GETPORTSRESP, list(port)],
    [PacketType.UPDATEDEVICES, list(netDevice)],
    [PacketType.UPDATEPORTS, list(port)],
    [PacketType.PORTDISCOVERYR, obj({ uuid: str, ports: list(port) }, ['uuid'])],
    [
      PacketType.ASSESTDISCOVERY,
      obj(
        {
          uuid: str,
          sn: str,
          unit: strOrNum,
          vender: str,
          model: str,
          cpus: list(obj({ id, assest_id: id, name: str, sn: str, model: str, vender: str })),
          memorys: list(obj({ sn: str, size: strOrNum, speed: strOrNum, locator: str, vender: str })),
          disks: list(
            obj({
              sn: str,
              vender: str,
              product_id: str,
              slot: str,
              production_date: str,
              capacity: strOrNum,
              speed: strOrNum,
              bus: str,
              media: str,
            }),
          ),
          nics: list(obj({ name: str, mac: str, vender: str, description: str })),
        },
        ['uuid'],
      ),
    ],
    [PacketType.HOSTHB, obj({ uuid: str }, ['uuid'])],
    [
      PacketType.SERIESBATCH,
      obj(
        {
          session: { type: 'string', minLength: 1, maxLength: 128 },
          seq: uint,
          uuid: str,
          ip: str,
          samples: { type: 'array', maxItems: limits.maxSamples, items: batchSample },
        },
        ['session', 'seq', 'samples'],
      ),
    ],
    [
      PacketType.ACK,
      obj({ session: { type: 'string', maxLength: 128 }, seq: uint, duplicate: bool }, ['session', 'seq']),
    ],
    [PacketType.ERROR, obj({ code: str, message: str, field: str }, ['code', 'message'])],
    [
      PacketType.HELLO,
      obj(
        {
          version: { type: 'integer', minimum: 1, maximum: 65535 },
          features: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
          uuid: str,
          token: str,
          agent: str,
        },
        ['version'],
      ),
    ],
  ]);
}
