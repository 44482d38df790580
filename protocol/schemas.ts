/**
 * JSON Schemas of every packet body, compiled by ajv. Objects never forbid
 * additional properties: a newer peer's extra fields must not break us.
 * Numbers must be finite (ajv `strictNumbers`); strings and lists are capped
 * by `ProtocolLimits`.
 *
 * String caps use the `maxUnits` keyword below rather than `maxLength`:
 * `maxLength` counts code points by walking every string, which was the
 * largest single cost of validating a SERIESDATA; `maxUnits` compares
 * `.length` (UTF-16 code units, the unit `ProtocolLimits` is specified in).
 */
import { _, str as codeStr, type CodeKeywordDefinition, type KeywordCxt } from 'ajv';
import { PacketType } from './packet-types.js';
import type { ProtocolLimits } from './limits.js';
import { AGENT_FIRMWARE_MAX_CHUNK_BYTES } from './firmware.js';

type Schema = Record<string, unknown>;

/** Name of the string-length keyword; the parser maps its failures to OWL_ERR_STRING_TOO_LONG. */
export const MAX_UNITS = 'maxUnits';

/** `maxUnits: n`: a string has at most n UTF-16 code units. Register with `ajv.addKeyword()`. */
export const maxUnitsKeyword: CodeKeywordDefinition = {
  keyword: MAX_UNITS,
  type: 'string',
  schemaType: 'number',
  error: {
    message: ({ schemaCode }) => codeStr`must NOT have more than ${schemaCode} UTF-16 code units`,
    params: ({ schemaCode }) => _`{limit: ${schemaCode}}`,
  },
  code(cxt: KeywordCxt) {
    cxt.fail(_`${cxt.data}.length > ${cxt.schemaCode}`);
  },
};

export function packetSchemas(limits: ProtocolLimits): Map<PacketType, Schema> {
  const str: Schema = { type: 'string', [MAX_UNITS]: limits.maxStringLength };
  const num: Schema = { type: 'number' };
  const int: Schema = { type: 'integer' };
  const uint: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
  const id: Schema = { type: ['integer', 'string'], [MAX_UNITS]: limits.maxStringLength };
  const strOrNum: Schema = { type: ['string', 'number'], [MAX_UNITS]: limits.maxStringLength };
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
    propertyNames: { [MAX_UNITS]: limits.maxStringLength },
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
      cron: str,
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
    propertyNames: { [MAX_UNITS]: limits.maxStringLength },
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
    // Exactly one of `timestamp` and `timestamp_ms`. Not `oneOf`: that builds
    // an error object for the failing branch of every valid sample.
    if: { required: ['timestamp_ms'] },
    then: { not: { required: ['timestamp'] } },
    else: { required: ['timestamp'] },
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
          session: { type: 'string', minLength: 1, [MAX_UNITS]: 128 },
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
      obj({ session: { type: 'string', [MAX_UNITS]: 128 }, seq: uint, duplicate: bool }, ['session', 'seq']),
    ],
    [PacketType.ERROR, obj({ code: str, message: str, field: str }, ['code', 'message'])],
    [
      PacketType.HELLO,
      obj(
        {
          version: { type: 'integer', minimum: 0, maximum: 65535 },
          features: { type: 'array', maxItems: 64, items: { type: 'string', [MAX_UNITS]: 64 } },
          uuid: str,
          token: str,
          agent: str,
        },
        ['version'],
      ),
    ],
    ...firmwareSchemas(obj, str, uint),
  ]);
}

/** Packets 19–22. A chunk's base64 is capped by its byte cap; the frame cap bounds everything else. */
function firmwareSchemas(
  obj: (properties: Record<string, Schema>, required?: string[]) => Schema,
  str: Schema,
  uint: Schema,
): [PacketType, Schema][] {
  const bundle: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };
  const version: Schema = { type: 'string', minLength: 1, [MAX_UNITS]: 64 };
  const short: Schema = { type: 'string', minLength: 1, [MAX_UNITS]: 64 };
  return [
    [
      PacketType.FWCHECK,
      obj(
        {
          program: { const: 'owl-agent' },
          arch: short,
          version,
          state: short,
          pendingVersion: version,
          download: obj({ bundle, version, bytes: uint, size: uint }, ['bundle', 'version', 'bytes', 'size']),
          lastFailure: obj({ code: short, reason: str, version, at: uint }, [
            'code',
            'reason',
            'version',
            'at',
          ]),
          refused: obj({ bundle: str, version: str, code: short, message: str, at: uint }, [
            'code',
            'message',
            'at',
          ]),
        },
        ['program', 'arch', 'version', 'state'],
      ),
    ],
    [
      PacketType.FWOFFER,
      obj(
        {
          bundle: {
            anyOf: [
              { type: 'null' },
              obj(
                {
                  id: bundle,
                  version,
                  size: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
                },
                ['id', 'version', 'size'],
              ),
            ],
          },
        },
        ['bundle'],
      ),
    ],
    [
      PacketType.FWCHUNKREQ,
      obj(
        {
          id: uint,
          bundle,
          offset: uint,
          length: { type: 'integer', minimum: 1, maximum: AGENT_FIRMWARE_MAX_CHUNK_BYTES },
        },
        ['id', 'bundle', 'offset', 'length'],
      ),
    ],
    [
      PacketType.FWCHUNK,
      obj(
        {
          id: uint,
          bundle,
          offset: uint,
          data: { type: 'string', [MAX_UNITS]: Math.ceil(AGENT_FIRMWARE_MAX_CHUNK_BYTES / 3) * 4 },
          code: short,
          message: str,
        },
        ['id', 'bundle', 'offset'],
      ),
    ],
  ];
}
