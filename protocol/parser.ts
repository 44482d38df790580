/**
 * Frame → typed packet: JSON parse, nesting check, schema validation.
 * Pure: no I/O. Every rejection is a PacketError with a stable code and,
 * where one field is to blame, its JSON pointer.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ErrorCode, PacketError } from './errors.js';
import type { Frame } from './frame.js';
import { DEFAULT_LIMITS, type ProtocolLimits } from './limits.js';
import type { PacketType } from './packet-types.js';
import { EMPTY_BODY_TYPES, isPacketType, packetName } from './packet-types.js';
import type { Packet } from './packets.js';
import { scanForward, type ForwardSummary } from './scan.js';
import { MAX_UNITS, maxUnitsKeyword, packetSchemas } from './schemas.js';

export interface PacketParser {
  readonly limits: Readonly<ProtocolLimits>;
  /** Validate one frame; throws PacketError. */
  parse(frame: Frame): Packet;
  /** Validate an already-parsed body for `type` (used for bodies that did not come off a socket). */
  validateBody(type: number, body: unknown): Packet;
  /**
   * For a SERIESDATA or SERIESBATCH a relay forwards as bytes: validate it
   * without building it (scan.ts) and return what the relay needs; undefined
   * when not sure, and then `parse()` decides.
   */
  scan(frame: Frame): ForwardSummary | undefined;
}

/** Build a parser for `limits` (the schemas are compiled once, here). */
export function createPacketParser(limits: Partial<ProtocolLimits> = {}): PacketParser {
  const full: ProtocolLimits = { ...DEFAULT_LIMITS, ...limits };
  const ajv = new Ajv({ strictNumbers: true, strictTypes: false, allErrors: false });
  ajv.addKeyword(maxUnitsKeyword);
  // Indexed by type number: this is on the per-frame path, so no Map lookup.
  const validators: (ValidateFunction | undefined)[] = [];
  for (const [type, schema] of packetSchemas(full)) validators[type] = ajv.compile(schema);
  const maxDepth = full.maxDepth;

  /** Validate `body` for a known `type`. */
  function check(type: PacketType, body: unknown): Packet {
    if (body === null) {
      // Empty, or JSON `null`: Go marshals an empty slice as null, so list bodies may be null.
      if (EMPTY_BODY_TYPES.has(type) || validators[type]?.(null) === true)
        return { type, body: null } as Packet;
      throw new PacketError(ErrorCode.EMPTY_BODY, `${packetName(type)} needs a body`);
    }
    if (!withinDepth(body, maxDepth)) {
      throw new PacketError(ErrorCode.TOO_DEEP, `${packetName(type)} body nests deeper than ${maxDepth}`);
    }
    const validate = validators[type];
    // CLIENTVERSION and GUARDHB carry nothing: whatever body a peer adds is ignored.
    if (validate === undefined) return { type, body: null } as Packet;
    if (!validate(body)) throw toPacketError(type, validate.errors?.[0]);
    return { type, body } as Packet;
  }

  return {
    limits: Object.freeze(full),
    scan(frame: Frame): ForwardSummary | undefined {
      return scanForward(frame.type, frame.body, full);
    },
    validateBody(type: number, body: unknown): Packet {
      if (!isPacketType(type)) {
        throw new PacketError(ErrorCode.UNKNOWN_TYPE, `unknown packet type ${type}`);
      }
      return check(type, body);
    },
    parse(frame: Frame): Packet {
      const { type, body } = frame;
      if (!isPacketType(type)) {
        throw new PacketError(ErrorCode.UNKNOWN_TYPE, `unknown packet type ${type}`);
      }
      if (body.length === 0) return check(type, null);
      let value: unknown;
      try {
        // toString() without arguments is Node's shortest path to a UTF-8 decode.
        value = JSON.parse(body.toString());
      } catch (err) {
        throw new PacketError(ErrorCode.BAD_JSON, `${packetName(type)} body is not JSON`, undefined, {
          cause: err,
        });
      }
      return check(type, value);
    },
  };
}

let shared: PacketParser | undefined;
const defaults = (): PacketParser => (shared ??= createPacketParser());

/**
 * The parser with default limits, compiled on first use: the schemas take about 8 MiB of heap,
 * which a thread that never parses (the relay's spool worker, which imports this folder for its
 * errors) need not hold.
 */
export const defaultParser: PacketParser = {
  get limits() {
    return defaults().limits;
  },
  parse: (frame) => defaults().parse(frame),
  validateBody: (type, body) => defaults().validateBody(type, body),
  scan: (frame) => defaults().scan(frame),
};

/**
 * True when `value` nests objects/arrays at most `max` deep. Bounded by
 * `max`, so a hostile `[[[[…` stops at the limit.
 */
function withinDepth(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (max === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null && !withinDepth(v, max - 1)) return false;
    }
    return true;
  }
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null && !withinDepth(v, max - 1)) return false;
  }
  return true;
}

function toPacketError(type: PacketType, error: ErrorObject | undefined): PacketError {
  const name = packetName(type);
  if (error === undefined) return new PacketError(ErrorCode.BAD_FIELD, `${name} body is invalid`);
  let field = error.instancePath;
  if (error.keyword === 'required') {
    field = `${field}/${(error.params as { missingProperty: string }).missingProperty}`;
  }
  const where = field === '' ? 'body' : field;
  const code =
    error.keyword === MAX_UNITS || error.keyword === 'maxLength'
      ? ErrorCode.STRING_TOO_LONG
      : error.keyword === 'maxItems' || error.keyword === 'maxProperties'
        ? ErrorCode.TOO_MANY_ITEMS
        : ErrorCode.BAD_FIELD;
  return new PacketError(
    code,
    `${name} ${where}: ${error.message ?? 'is invalid'}`,
    field === '' ? undefined : field,
  );
}
