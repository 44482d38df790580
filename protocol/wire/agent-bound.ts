/**
 * The packets a relay (or a v3 proxy or server) sends an agent, checked
 * without Ajv (wire/index.ts says why): HELLO, ACK, ERROR, HOSTCONFIGRESP and
 * CLIENTVERSIONRESP. Field for field the same rules as schemas.ts for these
 * bodies, so a body the relay's parser accepts is accepted here; anything
 * else a peer sends an agent is OWL_ERR_UNEXPECTED_PACKET. Pure: no I/O.
 */
import { ErrorCode, PacketError } from '../errors.js';
import type { Frame } from '../frame.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { PacketType, packetName } from '../packet-types.js';
import type { Ack, ClientVersion, ErrorBody, Hello, Host, Service } from '../packets.js';

export type AgentBoundPacket =
  | { type: typeof PacketType.HELLO; body: Hello }
  | { type: typeof PacketType.ACK; body: Ack }
  | { type: typeof PacketType.ERROR; body: ErrorBody }
  | { type: typeof PacketType.HOSTCONFIGRESP; body: Host }
  | { type: typeof PacketType.CLIENTVERSIONRESP; body: ClientVersion };

const MAX_STRING = DEFAULT_LIMITS.maxStringLength;
const DATA_TYPES = new Set(['GAUGE', 'COUNTER', 'DERIVE']);

type Obj = Record<string, unknown>;

function bad(field: string, message: string): never {
  throw new PacketError(ErrorCode.BAD_FIELD, message, field);
}

function object(value: unknown, at: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    bad(at, `${at || 'body'} must be an object`);
  return value as Obj;
}

function str(o: Obj, key: string, at: string, required: boolean, max = MAX_STRING): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== 'string') bad(`${at}/${key}`, `${key} must be a string`);
  if (v.length > max)
    throw new PacketError(ErrorCode.STRING_TOO_LONG, `${key} is longer than ${max}`, `${at}/${key}`);
}

function uint(o: Obj, key: string, at: string, required: boolean): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    bad(`${at}/${key}`, `${key} must be an unsigned integer`);
}

function id(o: Obj, key: string, at: string): void {
  const v = o[key];
  if (v !== undefined && typeof v !== 'string' && (typeof v !== 'number' || !Number.isFinite(v))) {
    bad(`${at}/${key}`, `${key} must be a number or a string`);
  }
}

function checkService(value: unknown, at: string): void {
  const s = object(value, at);
  id(s, 'id', at);
  str(s, 'name', at, true);
  str(s, 'plugin', at, true);
  str(s, 'args', at, false);
  str(s, 'cron', at, false);
  const interval = s.exec_interval;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
    bad(`${at}/exec_interval`, 'exec_interval must be a number of seconds');
  }
  if (s.items === undefined || s.items === null) return;
  const items = object(s.items, `${at}/items`);
  for (const [key, item] of Object.entries(items)) {
    const i = object(item, `${at}/items/${key}`);
    str(i, 'key', `${at}/items/${key}`, true);
    if (!DATA_TYPES.has(i.data_type as string))
      bad(`${at}/items/${key}/data_type`, 'data_type must be GAUGE, COUNTER or DERIVE');
  }
}

function checkHost(body: Obj): void {
  id(body, 'id', '');
  str(body, 'uuid', '', true);
  id(body, 'assest_id', '');
  for (const key of ['ip', 'group', 'proxy']) str(body, key, '', false);
  const services = body.services;
  if (services === undefined || services === null) return;
  if (!Array.isArray(services)) bad('/services', 'services must be an array');
  if (services.length > DEFAULT_LIMITS.maxItems) {
    throw new PacketError(ErrorCode.TOO_MANY_ITEMS, 'too many services', '/services');
  }
  (services as Service[]).forEach((s, i) => checkService(s, `/services/${i}`));
}

function checkBody(type: AgentBoundPacket['type'], body: Obj): void {
  switch (type) {
    case PacketType.HELLO:
      uint(body, 'version', '', true);
      if (body.features !== undefined && !Array.isArray(body.features))
        bad('/features', 'features must be an array');
      return;
    case PacketType.ACK:
      str(body, 'session', '', true, 128);
      uint(body, 'seq', '', true);
      if (body.duplicate !== undefined && typeof body.duplicate !== 'boolean')
        bad('/duplicate', 'duplicate must be a boolean');
      return;
    case PacketType.ERROR:
      str(body, 'code', '', true);
      str(body, 'message', '', true);
      str(body, 'field', '', false);
      return;
    case PacketType.HOSTCONFIGRESP:
      return checkHost(body);
    case PacketType.CLIENTVERSIONRESP:
      return str(body, 'version', '', true);
  }
}

const AGENT_BOUND = new Set<number>([
  PacketType.HELLO,
  PacketType.ACK,
  PacketType.ERROR,
  PacketType.HOSTCONFIGRESP,
  PacketType.CLIENTVERSIONRESP,
]);

/** Check one frame a relay sent to an agent; throws PacketError with a code (and the field's JSON pointer). */
export function parseAgentBound(frame: Frame): AgentBoundPacket {
  const { type } = frame;
  if (!AGENT_BOUND.has(type)) {
    throw new PacketError(ErrorCode.UNEXPECTED_PACKET, `an agent does not expect ${packetName(type)}`);
  }
  if (frame.body.length === 0)
    throw new PacketError(ErrorCode.EMPTY_BODY, `${packetName(type)} needs a body`);
  let value: unknown;
  try {
    value = JSON.parse(frame.body.toString());
  } catch {
    throw new PacketError(ErrorCode.BAD_JSON, `${packetName(type)} body is not JSON`);
  }
  const body = object(value, '');
  checkBody(type as AgentBoundPacket['type'], body);
  return { type, body } as unknown as AgentBoundPacket;
}
