/**
 * The forwarding scan (protocol/scan.ts) against the full parser: whenever
 * the scan accepts a body, the parser accepts it too and yields the same
 * summary. Checked on hand-picked edge cases, on random schema-valid bodies
 * (which the scan must also accept: that is its point), and on those bodies
 * after random byte edits.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  createPacketParser,
  DEFAULT_LIMITS,
  PacketType,
  scanForward,
  type ForwardSummary,
  type PacketParser,
  type ProtocolLimits,
} from '../../protocol/index.js';

const TIME_LIMIT_MS = 4000;

/** What the parser says a forwarder needs, or undefined when it rejects the body. */
function parsed(parser: PacketParser, type: number, body: Buffer): ForwardSummary | undefined {
  let packet;
  try {
    packet = parser.parse({ type, body });
  } catch {
    return undefined;
  }
  if (packet.type === PacketType.SERIESDATA) return { type: packet.type, uuid: packet.body.uuid, samples: 1 };
  if (packet.type === PacketType.SERIESBATCH) {
    const { session, seq, uuid, samples } = packet.body;
    return { type: packet.type, session, seq, uuid, samples: samples.length };
  }
  return undefined;
}

/** The scan's claim holds for `body`: returns the scan's answer. Throws when the scan accepted what the parser refuses or summarises differently. */
function agree(
  type: number,
  body: Buffer,
  limits: ProtocolLimits = DEFAULT_LIMITS,
): ForwardSummary | undefined {
  const scanned = scanForward(type, body, limits);
  if (scanned === undefined) return undefined;
  const full = parsed(createParserFor(limits), type, body);
  if (JSON.stringify(full) !== JSON.stringify(scanned)) {
    throw new Error(
      `scan ${JSON.stringify(scanned)} vs parse ${JSON.stringify(full)} for ${body.toString()}`,
    );
  }
  return scanned;
}

const parsers = new Map<ProtocolLimits, PacketParser>();
function createParserFor(limits: ProtocolLimits): PacketParser {
  let p = parsers.get(limits);
  if (p === undefined) parsers.set(limits, (p = createPacketParser(limits)));
  return p;
}

const V3 =
  '{"uuid":"5d41402abc4b2a76b9719d911017c592","ip":"10.0.0.7","group":"default","timestamp":1700000000,' +
  '"service_name":"cpu","metric":"usage","value":12.5,"flag":0}';
const BATCH =
  '{"session":"s-1","seq":42,"uuid":"h1","ip":"10.0.0.7","samples":[' +
  '{"service_name":"cpu","metric":"usage","value":1.5,"timestamp_ms":1700000000000},' +
  '{"metric":"load","value":-2e-3,"timestamp":1700000000.5,"data_type":"GAUGE","tags":{"core":"0"},"flag":1}]}';

test('accepts the v3 and batch bodies agents send, with what the relay needs', (t) => {
  t.deepEqual(agree(PacketType.SERIESDATA, Buffer.from(V3)), {
    type: PacketType.SERIESDATA,
    uuid: '5d41402abc4b2a76b9719d911017c592',
    samples: 1,
  });
  t.deepEqual(agree(PacketType.SERIESBATCH, Buffer.from(BATCH)), {
    type: PacketType.SERIESBATCH,
    session: 's-1',
    seq: 42,
    uuid: 'h1',
    samples: 2,
  });
  t.is(agree(PacketType.HOSTHB, Buffer.from('{"uuid":"x"}')), undefined, 'other types go to the parser');
});

test('edge cases: accepted ones match the parser, invalid ones are never accepted', (t) => {
  const s = (o: string): string => `{"uuid":"u","timestamp":1,"metric":"m","value":1${o}}`;
  const b = (top: string, sample = '"metric":"m","value":1,"timestamp":1'): string =>
    `{"session":"s","seq":1${top},"samples":[{${sample}}]}`;
  const long = (n: number): string => 'x'.repeat(n);
  const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const cases: Array<[number, string, 'accept' | 'reject' | 'either']> = [
    [PacketType.SERIESDATA, s(''), 'accept'],
    [PacketType.SERIESDATA, ` \n\t${s('')}\r\n `, 'accept'],
    [PacketType.SERIESDATA, '{ "uuid" : "u" , "timestamp" : 1 , "metric" : "m" , "value" : 1 }', 'accept'],
    [PacketType.SERIESDATA, '{"timestamp":1,"metric":"m","value":1}', 'reject'],
    [PacketType.SERIESDATA, s(',"value":"x"'), 'reject'],
    [PacketType.SERIESDATA, s(',"value":1e400'), 'reject'],
    [PacketType.SERIESDATA, s(',"value":-1E+308'), 'accept'],
    [PacketType.SERIESDATA, s(',"flag":1.5'), 'reject'],
    [PacketType.SERIESDATA, s(',"flag":1.0'), 'either'],
    [PacketType.SERIESDATA, s(',"flag":-3'), 'accept'],
    [PacketType.SERIESDATA, s(',"ip":null'), 'reject'],
    [PacketType.SERIESDATA, s(',"x":{"a":[1,{"b":null}]},"y":true'), 'accept'],
    [PacketType.SERIESDATA, s(`,"x":${nest(15)}`), 'accept'],
    [PacketType.SERIESDATA, s(`,"x":${nest(16)}`), 'reject'],
    [PacketType.SERIESDATA, s(',"uui\\u0064":"v"'), 'either'],
    [PacketType.SERIESDATA, '{"uu\\u0069d":"u","timestamp":1,"metric":"m","value":1}', 'either'],
    [PacketType.SERIESDATA, s(',"uuid":"a\\"b"'), 'either'],
    [PacketType.SERIESDATA, s(',"uuid":"é"'), 'accept'],
    [PacketType.SERIESDATA, s(`,"metric":"${long(4096)}"`), 'accept'],
    [PacketType.SERIESDATA, s(`,"metric":"${long(4097)}"`), 'reject'],
    [PacketType.SERIESDATA, s(`,"metric":"${'é'.repeat(4000)}"`), 'either'],
    [PacketType.SERIESDATA, s(',"metric":"a\u0001"'), 'reject'],
    [PacketType.SERIESDATA, s(',"metric":"a\\x"'), 'reject'],
    [PacketType.SERIESDATA, s('') + 'x', 'reject'],
    [PacketType.SERIESDATA, s(','), 'reject'],
    [PacketType.SERIESDATA, '\ufeff' + s(''), 'reject'],
    [PacketType.SERIESDATA, s(',"value":01'), 'reject'],
    [PacketType.SERIESDATA, s(',"value":1.'), 'reject'],
    [PacketType.SERIESDATA, s(',"value":-'), 'reject'],
    [PacketType.SERIESDATA, 'null', 'reject'],
    [PacketType.SERIESDATA, '[]', 'reject'],
    [PacketType.SERIESBATCH, b(''), 'accept'],
    [PacketType.SERIESBATCH, b(',"seq":-0'), 'either'],
    [PacketType.SERIESBATCH, b(',"seq":1e2'), 'either'],
    [PacketType.SERIESBATCH, b(',"seq":9007199254740992'), 'reject'],
    [PacketType.SERIESBATCH, b(',"seq":-1'), 'reject'],
    [PacketType.SERIESBATCH, b(',"session":""'), 'reject'],
    [PacketType.SERIESBATCH, b(`,"session":"${long(128)}"`), 'accept'],
    [PacketType.SERIESBATCH, b(`,"session":"${long(129)}"`), 'reject'],
    [PacketType.SERIESBATCH, b(',"session":"a\\u0062"'), 'accept'],
    [PacketType.SERIESBATCH, b(',"samples":[]'), 'accept'],
    [PacketType.SERIESBATCH, b(',"samples":{}'), 'either'], // the later "samples" counts
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp":1,"timestamp_ms":1'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp_ms":1.5'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp_ms":-1'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp":1,"data_type":"GAUGE"'), 'accept'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp":1,"data_type":"gauge"'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp":1,"tags":{"a":1}'), 'reject'],
    [PacketType.SERIESBATCH, b('', '"metric":"m","value":1,"timestamp":1,"tags":[]'), 'reject'],
    [PacketType.SERIESBATCH, b('', `"metric":"m","value":1,"timestamp":1,"tags":{${tagList(64)}}`), 'accept'],
    [PacketType.SERIESBATCH, b('', `"metric":"m","value":1,"timestamp":1,"tags":{${tagList(65)}}`), 'reject'],
    [PacketType.SERIESBATCH, b('', `"metric":"m","value":1,"timestamp":1,"x":${nest(13)}`), 'accept'],
    [PacketType.SERIESBATCH, b('', `"metric":"m","value":1,"timestamp":1,"x":${nest(14)}`), 'reject'],
    [PacketType.SERIESBATCH, '{"session":"s","seq":1}', 'reject'],
    [PacketType.SERIESBATCH, '{"session":"s","seq":1,"samples":{}}', 'reject'],
    [PacketType.SERIESBATCH, '{}', 'reject'],
  ];
  for (const [type, body, expect] of cases) {
    const scanned = agree(type, Buffer.from(body));
    const valid = parsed(defaultParserOf(), type, Buffer.from(body)) !== undefined;
    if (expect === 'accept') t.not(scanned, undefined, body.slice(0, 120));
    if (expect === 'reject') t.false(valid, body.slice(0, 120));
    if (expect !== 'reject') t.true(valid, `the parser accepts ${body.slice(0, 120)}`);
  }
});

test('duplicate keys: the last value counts, as in JSON.parse; an invalid earlier one is never accepted', (t) => {
  const body = '{"session":"a","seq":1,"samples":[],"session":"b","seq":2,"uuid":"x","uuid":"y"}';
  t.deepEqual(agree(PacketType.SERIESBATCH, Buffer.from(body)), {
    type: PacketType.SERIESBATCH,
    session: 'b',
    seq: 2,
    uuid: 'y',
    samples: 0,
  });
  const invalidLast = '{"uuid":"u","timestamp":1,"metric":"m","value":1,"value":"x"}';
  t.is(agree(PacketType.SERIESDATA, Buffer.from(invalidLast)), undefined);
});

test('limits are the parser’s: a smaller string cap, sample count and depth are honoured', (t) => {
  const limits: ProtocolLimits = { ...DEFAULT_LIMITS, maxStringLength: 8, maxSamples: 2, maxDepth: 3 };
  const sample = '{"metric":"m","value":1,"timestamp":1}';
  const batch = (n: number, extra = ''): Buffer =>
    Buffer.from(`{"session":"s","seq":1,"samples":[${Array(n).fill(sample).join(',')}]${extra}}`);
  t.not(agree(PacketType.SERIESBATCH, batch(2), limits), undefined);
  t.is(agree(PacketType.SERIESBATCH, batch(3), limits), undefined);
  t.is(agree(PacketType.SERIESBATCH, batch(1, ',"uuid":"123456789"'), limits), undefined);
  t.not(agree(PacketType.SERIESBATCH, batch(1, ',"x":[[]]'), limits), undefined);
  t.is(agree(PacketType.SERIESBATCH, batch(1, ',"x":[[[]]]'), limits), undefined);
});

// Random schema-valid bodies, compact as agents send them, unknown fields included.
const str = fc.string({ maxLength: 12 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const unknownField = fc.tuple(
  fc.string({ maxLength: 6 }).map((k) => `x_${k}`),
  fc.jsonValue({ maxDepth: 3 }),
);
const extras = fc.array(unknownField, { maxLength: 2 });

const seriesData = fc
  .record(
    {
      uuid: str,
      ip: str,
      group: str,
      timestamp: finite,
      service_name: str,
      metric: str,
      value: finite,
      flag: fc.integer({ min: -5, max: 5 }),
    },
    { requiredKeys: ['uuid', 'timestamp', 'metric', 'value'] },
  )
  .chain((o) => extras.map((x) => ({ ...o, ...Object.fromEntries(x) })));

const batchSample = fc
  .record(
    {
      uuid: str,
      ip: str,
      service_name: str,
      metric: str,
      value: finite,
      data_type: fc.constantFrom('GAUGE', 'COUNTER', 'DERIVE'),
      tags: fc.dictionary(str, str, { maxKeys: 4 }),
      flag: fc.integer({ min: -5, max: 5 }),
    },
    { requiredKeys: ['metric', 'value'] },
  )
  .chain((o) =>
    fc.oneof(
      finite.map((timestamp) => ({ ...o, timestamp })),
      fc.nat({ max: 2 ** 48 }).map((timestamp_ms) => ({ ...o, timestamp_ms })),
    ),
  );

const seriesBatch = fc
  .record(
    {
      session: fc.string({ minLength: 1, maxLength: 16 }),
      seq: fc.nat({ max: 2 ** 40 }),
      uuid: str,
      ip: str,
      samples: fc.array(batchSample, { maxLength: 5 }),
    },
    { requiredKeys: ['session', 'seq', 'samples'] },
  )
  .chain((o) => extras.map((x) => ({ ...o, ...Object.fromEntries(x) })));

const bodies = fc.oneof(
  seriesData.map((o) => [PacketType.SERIESDATA, JSON.stringify(o)] as const),
  seriesBatch.map((o) => [PacketType.SERIESBATCH, JSON.stringify(o)] as const),
);

test('random valid bodies: the scan accepts them all and agrees with the parser', (t) => {
  let checked = 0;
  fc.assert(
    fc.property(bodies, ([type, text]) => {
      const body = Buffer.from(text);
      const full = parsed(defaultParserOf(), type, body);
      if (full === undefined) return true; // the generator can make a body the schema refuses (e.g. 1e400 never, but -0 seq)
      checked++;
      const scanned = agree(type, body);
      // Escapes in the fields the relay reads, and number forms like 1e+21, are left to the parser.
      return scanned !== undefined || /\\|e[+-]/.test(text);
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 5_000 },
  );
  t.true(checked > 100, `${checked} valid bodies checked`);
});

const EDIT_BYTES = [...'"\\{}[]:,-+.eE0123456789 \ntfnu']
  .map((c) => c.charCodeAt(0))
  .concat([0x01, 0x80, 0xc3]);
const edit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
  byte: fc.constantFrom(...EDIT_BYTES),
});

test('random byte edits of valid bodies: the scan never accepts what the parser refuses', (t) => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(bodies, fc.array(edit, { minLength: 1, maxLength: 3 }), ([type, text], edits) => {
      let bytes = [...Buffer.from(text)];
      for (const e of edits) {
        const at = bytes.length === 0 ? 0 : e.at % bytes.length;
        if (e.kind === 'replace') bytes[at] = e.byte;
        else if (e.kind === 'insert') bytes.splice(at, 0, e.byte);
        else if (e.kind === 'delete') bytes.splice(at, 1);
        else bytes = bytes.slice(0, at);
      }
      const body = Buffer.from(bytes);
      if (agree(type, body) === undefined) refused++;
      else accepted++;
      return true;
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  t.true(accepted > 0 && refused > 0, `${accepted} accepted, ${refused} refused`);
});

function tagList(n: number): string {
  return Array.from({ length: n }, (_, i) => `"t${i}":"v"`).join(',');
}

function defaultParserOf(): PacketParser {
  return createParserFor(DEFAULT_LIMITS);
}

test('the last uuid is remembered by value: a reused buffer with a new uuid gives the new uuid', (t) => {
  const body = Buffer.from('{"uuid":"aaaa","timestamp":1,"metric":"m","value":1}');
  const uuidOf = (): unknown =>
    (scanForward(PacketType.SERIESDATA, body, DEFAULT_LIMITS) as { uuid: string }).uuid;
  t.is(uuidOf(), 'aaaa');
  t.is(uuidOf(), 'aaaa');
  body.write('bbbb', body.indexOf('aaaa'));
  t.is(uuidOf(), 'bbbb');
  t.is(
    agree(PacketType.SERIESDATA, Buffer.from('{"uuid":"aa\\u0061a","timestamp":1,"metric":"m","value":1}'))
      ?.type,
    PacketType.SERIESDATA,
  );
});
