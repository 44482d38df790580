/**
 * Validation without building the packet, for the two packets a relay forwards
 * unread: SERIESDATA and SERIESBATCH. The body's bytes are checked against the
 * same rules as `PacketParser.parse` (JSON grammar, nesting depth, the schema
 * in schemas.ts) and only what a forwarder needs comes back: the host uuid, or
 * a batch's session, seq, uuid and sample count. JSON.parse plus ajv build and
 * walk an object per sample; this walks the bytes once and allocates two
 * strings per frame.
 *
 * Conservative by design: `undefined` means "not sure", never "invalid". A
 * body is refused here for anything invalid and for every valid form the
 * scanner does not decode (an escaped key or read field, a number form such as
 * `1.0` for an integer, a string whose byte count passes a cap), and the caller
 * then runs the full parser, which accepts it or gives the exact coded error.
 * So: scan accepts ⇒ parse accepts, with the same summary. The property tests
 * in test/protocol/scan.test.ts hold it to that on random and mutated bodies.
 *
 * Why bytes stand for characters: JSON's structure is ASCII, and UTF-8
 * decoding never folds an ASCII byte into a multi-byte character, so the
 * structure seen in bytes is the one JSON.parse sees. A string's byte count is
 * never below its UTF-16 length (1–3 bytes per unit, 4 per surrogate pair, 2–6
 * per escape), so a byte count within a cap proves the cap.
 *
 * One file (over the 500-line mark) on purpose: it is one recursive-descent
 * reader whose cursor and bounds every function shares, and it is held whole
 * against parser.ts and schemas.ts by the differential tests; split, its
 * rules would have to be read across files to check them against the schema.
 */
import type { ProtocolLimits } from './limits.js';
import { PacketType } from './packet-types.js';

/** What a relay needs of a SERIESDATA or SERIESBATCH it spools as bytes. */
export type ForwardSummary =
  | { type: typeof PacketType.SERIESDATA; uuid: string; samples: 1 }
  | {
      type: typeof PacketType.SERIESBATCH;
      session: string;
      seq: number;
      uuid: string | undefined;
      samples: number;
    };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** Integers of up to 15 digits are exact doubles, below 2^53. */
const SAFE_DIGITS = 15;
/** Integer parts of up to 300 digits without an exponent are finite doubles. */
const FINITE_DIGITS = 300;
/** SERIESBATCH `session`: 1–128 UTF-16 units (schemas.ts). */
const MAX_SESSION_UNITS = 128;
/** SERIESBATCH sample `tags`: at most 64 properties (schemas.ts). */
const MAX_TAGS = 64;

const enum Field {
  Unknown,
  Uuid,
  Ip,
  Group,
  ServiceName,
  Metric,
  Value,
  Timestamp,
  TimestampMs,
  Flag,
  DataType,
  Tags,
  Session,
  Seq,
  Samples,
}

/** Each field's key, indexed by Field; `key()` picks the candidate by length and a letter, then compares. */
const NAMES: readonly Buffer[] = [
  '',
  'uuid',
  'ip',
  'group',
  'service_name',
  'metric',
  'value',
  'timestamp',
  'timestamp_ms',
  'flag',
  'data_type',
  'tags',
  'session',
  'seq',
  'samples',
].map((k) => Buffer.from(k));

/** `"name"`, quotes included, for each field. */
const QUOTED_NAMES: readonly Buffer[] = NAMES.map((n) => Buffer.from(`"${n.toString()}"`));
/** Pseudo-fields for "no key yet" in a SERIESDATA, a SERIESBATCH, a sample: past the last field. */
const OBJECT_START = Field.Samples + 1;

const DATA_TYPES = ['GAUGE', 'COUNTER', 'DERIVE'].map((s) => Buffer.from(s));

/** Each field allowed in a packet's objects, as a bit of a mask. */
const bit = (f: Field): number => 1 << f;
const SERIESDATA_FIELDS =
  bit(Field.Uuid) |
  bit(Field.Ip) |
  bit(Field.Group) |
  bit(Field.ServiceName) |
  bit(Field.Metric) |
  bit(Field.Value) |
  bit(Field.Timestamp) |
  bit(Field.Flag);
const SERIESDATA_REQUIRED = bit(Field.Uuid) | bit(Field.Timestamp) | bit(Field.Metric) | bit(Field.Value);
const BATCH_FIELDS =
  bit(Field.Session) | bit(Field.Seq) | bit(Field.Uuid) | bit(Field.Ip) | bit(Field.Samples);
const BATCH_REQUIRED = bit(Field.Session) | bit(Field.Seq) | bit(Field.Samples);
const SAMPLE_FIELDS =
  bit(Field.Uuid) |
  bit(Field.Ip) |
  bit(Field.ServiceName) |
  bit(Field.Metric) |
  bit(Field.Value) |
  bit(Field.Timestamp) |
  bit(Field.TimestampMs) |
  bit(Field.DataType) |
  bit(Field.Tags) |
  bit(Field.Flag);
const SAMPLE_REQUIRED = bit(Field.Metric) | bit(Field.Value);

/** Fails a scan: thrown only inside this module, caught by `scanForward`. */
class NotSure extends Error {}
const NOT_SURE = new NotSure('not sure');

/**
 * One scan over one body. Positions are byte offsets into `b`; every reader
 * takes the position of its first byte and returns the one after its last.
 */
class Scan {
  /** Set by `string()`: the last string had a backslash escape. */
  private escaped = false;
  /** Set by `number()`: the shape of the last number. */
  private negative = false;
  private intDigits = 0;
  private fraction = false;
  private exponent = false;
  /** Set by `key()`: where the key's value starts. */
  private valueAt = 0;
  /** The field of the previous key in this object (an OBJECT_START for none yet). */
  private previous = 0;
  /** For each field (or object start): the field of the key that followed it last time. */
  private readonly successor = new Uint8Array(OBJECT_START + 3);

  private b: Buffer = Buffer.alloc(0);
  private maxString = 0;
  private maxDepth = 0;
  private maxSamples = 0;

  /** Start on `b`. One instance serves every scan (they are synchronous): no allocation per frame. */
  reset(b: Buffer, limits: ProtocolLimits): this {
    this.b = b;
    this.maxString = limits.maxStringLength;
    this.maxDepth = limits.maxDepth;
    this.maxSamples = limits.maxSamples;
    return this;
  }

  seriesData(): ForwardSummary {
    const { b } = this;
    if (this.maxDepth < 1) throw NOT_SURE;
    const asGo = this.goSeriesData();
    if (asGo !== undefined) return asGo;
    let i = this.ws(this.open(this.ws(0), LBRACE));
    this.previous = OBJECT_START;
    let seen = 0;
    let uuid: Span = [0, 0, false];
    if (b[i] !== RBRACE) {
      for (;;) {
        const field = this.key(i, SERIESDATA_FIELDS);
        const { valueAt } = this;
        seen |= bit(field);
        switch (field) {
          case Field.Uuid:
            i = this.readString(valueAt, this.maxString);
            uuid = [valueAt, i, this.escaped];
            break;
          case Field.Ip:
          case Field.Group:
          case Field.ServiceName:
          case Field.Metric:
            i = this.readString(valueAt, this.maxString);
            break;
          case Field.Value:
          case Field.Timestamp:
            i = this.finite(valueAt);
            break;
          case Field.Flag:
            i = this.integer(valueAt, true);
            break;
          default:
            i = this.skip(valueAt, this.maxDepth - 1);
        }
        i = this.ws(i);
        if (b[i] === COMMA) {
          i = this.ws(i + 1);
          continue;
        }
        i = this.open(i, RBRACE);
        break;
      }
    } else {
      i++;
    }
    this.end(i);
    if ((seen & SERIESDATA_REQUIRED) !== SERIESDATA_REQUIRED) throw NOT_SURE;
    return { type: PacketType.SERIESDATA, uuid: this.uuidText(...uuid), samples: 1 };
  }

  /**
   * A SERIESDATA exactly as the v3 Go agent marshals it: its eight fields in
   * struct order, no whitespace. Each key is then one comparison of constant
   * bytes; any other shape (undefined) takes the general path.
   */
  private goSeriesData(): ForwardSummary | undefined {
    let i = 0;
    let uuidAt = 0;
    let uuidEnd = 0;
    let uuidEscaped = false;
    for (let f = 0; f < GO_SERIESDATA.length; f++) {
      const [literal, kind] = GO_SERIESDATA[f] as [Buffer, GoValue];
      if (!this.bytesAre(i, literal)) return undefined;
      i += literal.length;
      if (kind === GoValue.String) {
        const end = this.readString(i, this.maxString);
        if (f === 0) {
          uuidAt = i;
          uuidEnd = end;
          uuidEscaped = this.escaped;
        }
        i = end;
      } else if (kind === GoValue.Number) {
        i = this.finite(i);
      } else {
        i = this.integer(i, true);
      }
    }
    if (this.b[i] !== RBRACE) return undefined;
    this.end(i + 1);
    return { type: PacketType.SERIESDATA, uuid: this.uuidText(uuidAt, uuidEnd, uuidEscaped), samples: 1 };
  }

  seriesBatch(): ForwardSummary {
    const { b } = this;
    if (this.maxDepth < 1) throw NOT_SURE;
    let i = this.ws(this.open(this.ws(0), LBRACE));
    this.previous = OBJECT_START + 1;
    let seen = 0;
    let session: Span = [0, 0, false];
    let uuid: Span | undefined;
    let seq = 0;
    let samples = 0;
    if (b[i] === RBRACE) throw NOT_SURE;
    for (;;) {
      const field = this.key(i, BATCH_FIELDS);
      const { valueAt } = this;
      seen |= bit(field);
      switch (field) {
        case Field.Session:
          i = this.readString(valueAt, MAX_SESSION_UNITS);
          if (i - valueAt === 2) throw NOT_SURE; // minLength 1
          session = [valueAt, i, this.escaped];
          break;
        case Field.Uuid:
          i = this.readString(valueAt, this.maxString);
          uuid = [valueAt, i, this.escaped];
          break;
        case Field.Ip:
          i = this.readString(valueAt, this.maxString);
          break;
        case Field.Seq:
          i = this.integer(valueAt, false);
          seq = this.intAt(i);
          break;
        case Field.Samples:
          [i, samples] = this.samples(valueAt);
          this.previous = Field.Samples;
          break;
        default:
          i = this.skip(valueAt, this.maxDepth - 1);
      }
      i = this.ws(i);
      if (b[i] === COMMA) {
        i = this.ws(i + 1);
        continue;
      }
      i = this.open(i, RBRACE);
      break;
    }
    this.end(i);
    if ((seen & BATCH_REQUIRED) !== BATCH_REQUIRED) throw NOT_SURE;
    return {
      type: PacketType.SERIESBATCH,
      session: this.text(session),
      seq,
      uuid: uuid === undefined ? undefined : this.text(uuid),
      samples,
    };
  }

  /** `samples`: an array of at most maxSamples sample objects; returns [end, count]. */
  private samples(i: number): [number, number] {
    const { b } = this;
    i = this.ws(this.open(i, LBRACKET));
    if (this.maxDepth < 2) throw NOT_SURE;
    let count = 0;
    if (b[i] === RBRACKET) return [i + 1, 0];
    for (;;) {
      if (++count > this.maxSamples) throw NOT_SURE;
      i = this.ws(this.sample(i));
      if (b[i] === COMMA) {
        i = this.ws(i + 1);
        continue;
      }
      return [this.open(i, RBRACKET), count];
    }
  }

  /** One SERIESBATCH sample: body (depth 1) → samples (2) → sample (3). */
  private sample(i: number): number {
    const { b } = this;
    i = this.ws(this.open(i, LBRACE));
    if (this.maxDepth < 3) throw NOT_SURE;
    this.previous = OBJECT_START + 2;
    let seen = 0;
    if (b[i] === RBRACE) throw NOT_SURE;
    for (;;) {
      const field = this.key(i, SAMPLE_FIELDS);
      const { valueAt } = this;
      seen |= bit(field);
      switch (field) {
        case Field.Uuid:
        case Field.Ip:
        case Field.ServiceName:
        case Field.Metric:
          i = this.readString(valueAt, this.maxString);
          break;
        case Field.Value:
        case Field.Timestamp:
          i = this.finite(valueAt);
          break;
        case Field.TimestampMs:
          i = this.integer(valueAt, false);
          break;
        case Field.Flag:
          i = this.integer(valueAt, true);
          break;
        case Field.DataType:
          i = this.dataType(valueAt);
          break;
        case Field.Tags:
          i = this.tags(valueAt);
          break;
        default:
          i = this.skip(valueAt, this.maxDepth - 3);
      }
      i = this.ws(i);
      if (b[i] === COMMA) {
        i = this.ws(i + 1);
        continue;
      }
      i = this.open(i, RBRACE);
      break;
    }
    if ((seen & SAMPLE_REQUIRED) !== SAMPLE_REQUIRED) throw NOT_SURE;
    // Exactly one of timestamp and timestamp_ms.
    if (((seen >> Field.Timestamp) & 1) === ((seen >> Field.TimestampMs) & 1)) throw NOT_SURE;
    return i;
  }

  /** `tags`: an object (depth 4) of at most 64 string values, names and values within the string cap. */
  private tags(i: number): number {
    const { b } = this;
    i = this.open(i, LBRACE);
    if (this.maxDepth < 4) throw NOT_SURE;
    i = this.ws(i);
    if (b[i] === RBRACE) return i + 1;
    let count = 0;
    for (;;) {
      if (++count > MAX_TAGS) throw NOT_SURE;
      i = this.ws(this.readString(i, this.maxString));
      i = this.ws(this.open(i, COLON));
      i = this.ws(this.readString(i, this.maxString));
      if (b[i] === COMMA) {
        i = this.ws(i + 1);
        continue;
      }
      return this.open(i, RBRACE);
    }
  }

  private dataType(i: number): number {
    const end = this.readString(i, this.maxString);
    if (this.escaped) throw NOT_SURE;
    for (const name of DATA_TYPES) if (end - i - 2 === name.length && this.bytesAre(i + 1, name)) return end;
    throw NOT_SURE;
  }

  /**
   * A key of an object whose fields are `allowed`, then its colon: returns
   * the field and sets `valueAt`. An escaped key could spell a known
   * name, so it is not decoded here.
   */
  private key(i: number, allowed: number): Field {
    // Objects of one sender list their keys in one order: try the key that followed the previous
    // one last time. Its quoted name matching here is the whole string token, no scan needed.
    const predicted = this.successor[this.previous] as Field;
    if (predicted !== Field.Unknown && (allowed & (1 << predicted)) !== 0) {
      const quoted = QUOTED_NAMES[predicted] as Buffer;
      if (this.bytesAre(i, quoted)) {
        this.valueAt = this.ws(this.open(this.ws(i + quoted.length), COLON));
        this.previous = predicted;
        return predicted;
      }
    }
    const f = this.keyByScan(i, allowed);
    this.successor[this.previous] = f;
    this.previous = f;
    return f;
  }

  private keyByScan(i: number, allowed: number): Field {
    const end = this.string(i);
    if (this.escaped) throw NOT_SURE;
    this.valueAt = this.ws(this.open(this.ws(end), COLON));
    const { b } = this;
    const s = i + 1;
    let f: Field;
    switch (end - s - 1) {
      case 2:
        f = Field.Ip;
        break;
      case 3:
        f = Field.Seq;
        break;
      case 4:
        f = b[s] === 0x75 ? Field.Uuid : b[s] === 0x66 ? Field.Flag : Field.Tags;
        break;
      case 5:
        f = b[s] === 0x67 ? Field.Group : Field.Value;
        break;
      case 6:
        f = Field.Metric;
        break;
      case 7:
        f = b[s + 1] === 0x65 ? Field.Session : Field.Samples;
        break;
      case 9:
        f = b[s] === 0x74 ? Field.Timestamp : Field.DataType;
        break;
      case 12:
        f = b[s] === 0x73 ? Field.ServiceName : Field.TimestampMs;
        break;
      default:
        return Field.Unknown;
    }
    return (allowed & (1 << f)) !== 0 && this.bytesAre(s, NAMES[f] as Buffer) ? f : Field.Unknown;
  }

  /** The bytes at `i` are `word` (a short constant: a JS loop beats a native call here). */
  private bytesAre(i: number, word: Buffer): boolean {
    const { b } = this;
    const n = word.length;
    for (let k = 0; k < n; k++) if (b[i + k] !== word[k]) return false;
    return true;
  }

  /** A string field capped at `max` UTF-16 units: refused when its byte count passes the cap. */
  private readString(i: number, max: number): number {
    const end = this.string(i);
    if (end - i - 2 > max) throw NOT_SURE;
    return end;
  }

  /** Any JSON string: returns the position after its closing quote; sets `escaped`. */
  private string(i: number): number {
    const { b } = this;
    if (b[i] !== QUOTE) throw NOT_SURE;
    this.escaped = false;
    const n = b.length;
    // Two compares per plain byte; escapes and control bytes leave the loop.
    for (i++; i < n; i++) {
      const c = b[i] as number;
      if (c === QUOTE) return i + 1;
      if (c === BACKSLASH || c < 0x20) i = this.escape(i);
    }
    throw NOT_SURE;
  }

  /** The escape starting at `i` (a backslash; anything else is a control byte): returns its last position. */
  private escape(i: number): number {
    const { b } = this;
    if (b[i] !== BACKSLASH) throw NOT_SURE;
    this.escaped = true;
    const e = b[++i];
    if (e === 0x75 /* u */) {
      for (let k = 0; k < 4; k++) if (!isHex(b[++i])) throw NOT_SURE;
      return i;
    }
    if (
      e !== QUOTE &&
      e !== BACKSLASH &&
      e !== 0x2f /* / */ &&
      e !== 0x62 /* b */ &&
      e !== 0x66 /* f */ &&
      e !== 0x6e /* n */ &&
      e !== 0x72 /* r */ &&
      e !== 0x74 /* t */
    ) {
      throw NOT_SURE;
    }
    return i;
  }

  /** A JSON number (grammar only); records its shape for the typed readers below. */
  private number(i: number): number {
    const { b } = this;
    this.negative = b[i] === MINUS;
    if (this.negative) i++;
    const intStart = i;
    if (b[i] === ZERO) {
      i++;
    } else {
      if (!isDigit(b[i])) throw NOT_SURE;
      while (isDigit(b[i])) i++;
    }
    this.intDigits = i - intStart;
    this.fraction = b[i] === DOT;
    if (this.fraction) {
      if (!isDigit(b[++i])) throw NOT_SURE;
      while (isDigit(b[i])) i++;
    }
    const e = b[i];
    this.exponent = e === 0x65 || e === 0x45;
    if (this.exponent) {
      const sign = b[++i];
      if (sign === PLUS || sign === MINUS) i++;
      if (!isDigit(b[i])) throw NOT_SURE;
      while (isDigit(b[i])) i++;
    }
    return i;
  }

  /** A number that JSON.parse turns into a finite double (ajv strictNumbers). */
  private finite(i: number): number {
    const end = this.number(i);
    if (!this.exponent && this.intDigits <= FINITE_DIGITS) return end;
    if (!Number.isFinite(Number(this.b.toString('latin1', i, end)))) throw NOT_SURE;
    return end;
  }

  /** An integer in plain form, at most 15 digits (exact); `signed` allows a minus sign.  */
  private integer(i: number, signed: boolean): number {
    const end = this.number(i);
    if (this.fraction || this.exponent || this.intDigits > SAFE_DIGITS || (this.negative && !signed)) {
      throw NOT_SURE;
    }
    return end;
  }

  /** The value of the plain non-negative integer (at most 15 digits) that ends at `end`. */
  private intAt(end: number): number {
    const { b } = this;
    let value = 0;
    for (let i = end - this.intDigits; i < end; i++) value = value * 10 + ((b[i] as number) - ZERO);
    return value;
  }

  /** Any JSON value of an unknown field; objects and arrays may nest `depth` more levels. */
  private skip(i: number, depth: number): number {
    const { b } = this;
    const c = b[i];
    if (c === QUOTE) return this.string(i);
    if (c === LBRACE || c === LBRACKET) {
      if (depth <= 0) throw NOT_SURE;
      const close = c === LBRACE ? RBRACE : RBRACKET;
      i = this.ws(i + 1);
      if (b[i] === close) return i + 1;
      for (;;) {
        if (c === LBRACE) i = this.ws(this.open(this.ws(this.string(i)), COLON));
        i = this.ws(this.skip(i, depth - 1));
        if (b[i] === COMMA) {
          i = this.ws(i + 1);
          continue;
        }
        return this.open(i, close);
      }
    }
    if (c === MINUS || isDigit(c)) return this.number(i);
    for (const word of LITERALS) if (this.bytesAre(i, word)) return i + word.length;
    throw NOT_SURE;
  }

  /** Expect byte `c` at `i`. */
  private open(i: number, c: number): number {
    if (this.b[i] !== c) throw NOT_SURE;
    return i + 1;
  }

  private ws(i: number): number {
    // Compact JSON has no whitespace: one compare, small enough to inline everywhere.
    if ((this.b[i] as number) > 0x20) return i;
    return this.skipWs(i);
  }

  private skipWs(i: number): number {
    const { b } = this;
    for (;;) {
      const c = b[i];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
      i++;
    }
  }

  /** Only whitespace may follow the body's value. */
  private end(i: number): void {
    if (this.ws(i) !== this.b.length) throw NOT_SURE;
  }

  /**
   * `text()` for a SERIESDATA uuid, through a one-entry cache: a socket read
   * holds many frames of one host, and comparing 32 bytes costs less than
   * decoding them into a new string.
   */
  private uuidText(start: number, end: number, escaped: boolean): string {
    const { b } = this;
    const length = end - start - 2;
    const from = start + 1;
    if (escaped || length > LAST_UUID.bytes.length) return this.text([start, end, escaped]);
    const bytes = LAST_UUID.bytes;
    let k = 0;
    if (length === LAST_UUID.length) while (k < length && b[from + k] === bytes[k]) k++;
    if (k === length && length === LAST_UUID.length) return LAST_UUID.text;
    // Copied byte by byte into a fixed array: a caller may reuse the buffer it passed.
    for (k = 0; k < length; k++) bytes[k] = b[from + k] as number;
    LAST_UUID.length = length;
    LAST_UUID.text = this.text([start, end, escaped]);
    return LAST_UUID.text;
  }

  /** A string's value: JSON.parse for an escaped one, else its UTF-8 bytes as they are. */
  private text([start, end, escaped]: Span): string {
    const { b } = this;
    if (escaped) return JSON.parse(b.toString('utf8', start, end)) as string;
    return b.toString('utf8', start + 1, end - 1);
  }
}

const enum GoValue {
  String,
  Number,
  Integer,
}

/** The v3 agent's SERIESDATA, field by field: the bytes up to each value, and the value's type. */
const GO_SERIESDATA: ReadonlyArray<readonly [Buffer, GoValue]> = (
  [
    ['{"uuid":', GoValue.String],
    [',"ip":', GoValue.String],
    [',"group":', GoValue.String],
    [',"timestamp":', GoValue.Number],
    [',"service_name":', GoValue.String],
    [',"metric":', GoValue.String],
    [',"value":', GoValue.Number],
    [',"flag":', GoValue.Integer],
  ] as const
).map(([literal, kind]) => [Buffer.from(literal), kind] as const);

/** The last SERIESDATA uuid decoded, by its bytes (see `uuidText`). */
const LAST_UUID = { bytes: new Uint8Array(64), length: -1, text: '' };

/** A string token: [position of its opening quote, position after its closing quote, escaped]. */
type Span = [number, number, boolean];

const LITERALS = ['true', 'false', 'null'].map((s) => Buffer.from(s));

/** `c` is 0-9; undefined (past the end) is not: undefined ^ 0x30 is 0x30. */
function isDigit(c: number | undefined): boolean {
  return ((c as number) ^ ZERO) < 10;
}

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
  );
}

/**
 * Validate a SERIESDATA or SERIESBATCH body as `PacketParser.parse` would and
 * return what a forwarder needs, or `undefined` when not sure (invalid, or a
 * form this scanner leaves to the full parser). Other types: `undefined`.
 */
export function scanForward(type: number, body: Buffer, limits: ProtocolLimits): ForwardSummary | undefined {
  if (body.length === 0) return undefined;
  const scan = SCAN.reset(body, limits);
  try {
    if (type === PacketType.SERIESDATA) return scan.seriesData();
    if (type === PacketType.SERIESBATCH) return scan.seriesBatch();
    return undefined;
  } catch (err) {
    if (err === NOT_SURE) return undefined;
    throw err;
  } finally {
    scan.reset(EMPTY, limits); // hold no caller buffer
  }
}

const EMPTY = Buffer.alloc(0);
const SCAN = new Scan();
