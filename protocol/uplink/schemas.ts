/**
 * JSON Schemas of the uplink's JSON bodies, compiled by ajv. As in
 * ../schemas.ts, objects never forbid additional properties, numbers must be
 * finite, strings and lists are capped. v3 bodies carried inside (HOSTCONFIG
 * request, Host, devices, ports) are only required to be objects/arrays
 * here: the codec then hands them to the packet parser (`nestedPackets`), so
 * the uplink accepts exactly what the agent side accepts.
 */
import type { ProtocolLimits } from '../limits.js';
import { PacketType } from '../packet-types.js';
import type { UplinkMessageType } from './kinds.js';
import { FIRMWARE_MAX_CHUNK_BYTES } from '../firmware.js';
import { UPLINK_MAX_RECORD_BYTES } from './record.js';

type Schema = Record<string, unknown>;

/** Types whose body is binary, not JSON. */
type BinaryType = 'BATCH' | 'BATCH_ACK' | 'FIRMWARE_CHUNK';
export type JsonType = Exclude<UplinkMessageType, BinaryType>;

/** Largest batch payload a WELCOME may allow (64 MiB). */
const UPLINK_MAX_BATCH_BYTES_LIMIT = 64 * 1024 * 1024;

/** Where a JSON body carries a v3 packet body, and its packet type. */
interface NestedPacket {
  /** JSON pointer of the nested body. */
  field: string;
  type: PacketType;
  value: unknown;
}

/** The v3 bodies nested in an already schema-checked body, to validate with the packet parser. */
export function nestedPackets(type: JsonType, body: Record<string, unknown>): NestedPacket[] {
  switch (type) {
    case 'HOSTCONFIG_REQ':
      return [{ field: '/request', type: PacketType.HOSTCONFIG, value: body.request }];
    case 'HOSTCONFIG_RESP':
    case 'CONFIG_PUSH':
      return body.host === null
        ? []
        : [{ field: '/host', type: PacketType.HOSTCONFIGRESP, value: body.host }];
    case 'INVENTORY_RESP':
    case 'INVENTORY_PUSH':
      return [
        {
          field: '/items',
          type: body.what === 'devices' ? PacketType.GETDEVICESRESP : PacketType.GETPORTSRESP,
          value: body.items,
        },
      ];
    default:
      return [];
  }
}

export function uplinkSchemas(limits: ProtocolLimits): Map<JsonType, Schema> {
  const str: Schema = { type: 'string', maxLength: limits.maxStringLength };
  const short: Schema = { type: 'string', minLength: 1, maxLength: 64 };
  const uint: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
  const obj = (properties: Record<string, Schema>, required: string[]): Schema => ({
    type: 'object',
    properties,
    required,
  });
  const features: Schema = { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } };
  const hostOrNull: Schema = { type: ['object', 'null'] };
  const version: Schema = { type: 'integer', minimum: 1, maximum: 65535 };
  const window: Schema = { type: 'integer', minimum: 0, maximum: 65535 };
  const ping = obj({ t: { type: 'number' } }, ['t']);
  const codeMessage = { code: str, message: str };
  const bundle: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };
  const program: Schema = { enum: ['owl-relay', 'owl-agent'] };
  const fwVersion: Schema = { type: 'string', minLength: 1, maxLength: 64 };
  const failure = obj({ code: short, reason: str, version: fwVersion, at: uint }, [
    'code',
    'reason',
    'version',
    'at',
  ]);

  return new Map<JsonType, Schema>([
    [
      'HELLO',
      obj(
        {
          version,
          relay: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
          spool: short,
          features,
          firstUnacked: uint,
          nextSeq: uint,
        },
        ['version', 'relay', 'spool', 'features', 'firstUnacked', 'nextSeq'],
      ),
    ],
    [
      'WELCOME',
      obj(
        {
          version,
          window,
          maxBatchBytes: {
            type: 'integer',
            minimum: UPLINK_MAX_RECORD_BYTES,
            maximum: UPLINK_MAX_BATCH_BYTES_LIMIT,
          },
          heartbeatMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
          features,
          maxBatchSamples: { type: 'integer', minimum: 1, maximum: 2 ** 31 },
        },
        ['version', 'window', 'maxBatchBytes', 'heartbeatMs'],
      ),
    ],
    ['CREDIT', obj({ window }, ['window'])],
    ['PING', ping],
    ['PONG', ping],
    ['ERROR', obj({ ...codeMessage, firstSeq: uint, lastSeq: uint }, ['code', 'message'])],
    [
      'HOSTCONFIG_REQ',
      obj({ id: uint, uuid: str, request: { type: 'object' }, source: { type: 'string', maxLength: 255 } }, [
        'id',
        'uuid',
        'request',
        'source',
      ]),
    ],
    ['HOSTCONFIG_RESP', obj({ id: uint, uuid: str, host: hostOrNull }, ['id', 'uuid', 'host'])],
    ['CONFIG_PUSH', obj({ uuid: str, host: hostOrNull }, ['uuid', 'host'])],
    ['VERSION_REQ', obj({ id: uint, platform: str }, ['id'])],
    ['VERSION_RESP', obj({ id: uint, version: str, platform: str }, ['id', 'version'])],
    ['INVENTORY_REQ', obj({ id: uint, what: { enum: ['devices', 'ports'] } }, ['id', 'what'])],
    [
      'INVENTORY_RESP',
      obj({ id: uint, what: { enum: ['devices', 'ports'] }, items: { type: 'array' } }, [
        'id',
        'what',
        'items',
      ]),
    ],
    ['CONFIG_ERROR', obj({ id: uint, ...codeMessage }, ['id', 'code', 'message'])],
    [
      'INVENTORY_PUSH',
      obj({ what: { enum: ['devices', 'ports'] }, items: { type: 'array' } }, ['what', 'items']),
    ],
    [
      'RELAY_STATUS',
      obj(
        {
          version: str,
          agents: uint,
          spool: obj(
            {
              records: uint,
              bytes: uint,
              oldestAgeMs: { anyOf: [{ type: 'null' }, uint] },
              firstUnacked: uint,
              nextSeq: uint,
            },
            ['records', 'bytes', 'oldestAgeMs', 'firstUnacked', 'nextSeq'],
          ),
          dropped: {
            type: 'object',
            maxProperties: 64,
            propertyNames: { maxLength: 64 },
            additionalProperties: uint,
          },
          t: uint,
        },
        ['version', 'agents', 'spool', 'dropped'],
      ),
    ],
    [
      'FIRMWARE_OFFER',
      obj(
        {
          bundles: {
            type: 'array',
            maxItems: 16,
            items: obj(
              {
                bundle,
                program,
                arch: { enum: ['amd64', 'arm64'] },
                version: fwVersion,
                size: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
                percent: { type: 'integer', minimum: 1, maximum: 100 },
              },
              ['bundle', 'program', 'arch', 'version', 'size', 'percent'],
            ),
          },
        },
        ['bundles'],
      ),
    ],
    [
      'FIRMWARE_CHUNK_REQ',
      obj(
        {
          id: uint,
          bundle,
          offset: uint,
          length: { type: 'integer', minimum: 1, maximum: FIRMWARE_MAX_CHUNK_BYTES },
        },
        ['id', 'bundle', 'offset', 'length'],
      ),
    ],
    ['FIRMWARE_ERROR', obj({ id: uint, bundle: str, ...codeMessage }, ['id', 'bundle', 'code', 'message'])],
    [
      'FIRMWARE_REPORT',
      obj(
        {
          units: {
            type: 'array',
            maxItems: 4096,
            items: obj(
              {
                program,
                uuid: str,
                version: fwVersion,
                arch: short,
                state: short,
                pendingVersion: fwVersion,
                download: obj({ bundle, version: fwVersion, bytes: uint, size: uint }, [
                  'bundle',
                  'version',
                  'bytes',
                  'size',
                ]),
                lastFailure: failure,
                refused: obj({ bundle: str, version: str, code: short, message: str, at: uint }, [
                  'code',
                  'message',
                  'at',
                ]),
                t: uint,
              },
              ['program', 'version', 'state', 't'],
            ),
          },
        },
        ['units'],
      ),
    ],
  ]);
}
