/**
 * The hex examples in docs/uplink.md are what the encoder produces, byte for
 * byte, and decode to the messages the document describes. Each example is a
 * ```hex block after a `<!-- hex:NAME -->` marker; `#` starts a comment.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import {
  buildBatch,
  decodeUplinkMessage,
  encodeRecord,
  encodeUplinkMessage,
  openBatch,
  PacketType,
  type UplinkMessage,
} from '../../protocol/index.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const doc = readFileSync(new URL('../../docs/uplink.md', import.meta.url), 'utf8');

/** The bytes of the hex block after marker `name`. */
function example(name: string): Buffer {
  const marker = `<!-- hex:${name} -->`;
  const at = doc.indexOf(marker);
  if (at < 0) throw new Error(`no ${marker} in docs/uplink.md`);
  const block = /```hex\n([\s\S]*?)```/.exec(doc.slice(at));
  if (block === null) throw new Error(`no hex block after ${marker}`);
  const digits = (block[1] as string)
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/.test(digits)) throw new Error(`${name}: not hex bytes`);
  return Buffer.from(digits, 'hex');
}

const records = [
  encodeRecord({
    receivedAtMs: 1718000000123,
    type: PacketType.HOSTHB,
    src: '10.1.0.23:40312',
    uuid: '',
    body: Buffer.from(`{"uuid":"${UUID}"}`),
  }),
  encodeRecord({
    receivedAtMs: 1718000000125,
    type: PacketType.SERIESDATA,
    src: '10.1.0.23:40312',
    uuid: '',
    body: Buffer.from(`{"uuid":"${UUID}","timestamp":1718000000,"metric":"cpu.user","value":12.5}`),
  }),
];

const examples: Record<string, UplinkMessage> = {
  HELLO: {
    type: 'HELLO',
    body: { version: 1, relay: 'zone-a', spool: 'c0ffee01', features: [], firstUnacked: 1000, nextSeq: 1003 },
  },
  WELCOME: { type: 'WELCOME', body: { version: 1, window: 8, maxBatchBytes: 2097152, heartbeatMs: 15000 } },
  BATCH: buildBatch(
    { seqs: [1000, 1002], payloads: records, samples: 1, replay: false },
    { compress: false },
  ),
  BATCH_ACK: { type: 'BATCH_ACK', body: { firstSeq: 1000, lastSeq: 1002, status: 0 } },
  HOSTCONFIG_REQ: {
    type: 'HOSTCONFIG_REQ',
    body: {
      id: 7,
      uuid: UUID,
      request: { uuid: UUID, ip: '10.1.0.23', hostname: 'web-23' },
      source: '10.1.0.23:40312',
    },
  },
};

for (const [name, message] of Object.entries(examples)) {
  test(`docs/uplink.md ${name} example is the encoder's output`, (t) => {
    const bytes = example(name);
    t.is(bytes.toString('hex'), encodeUplinkMessage(message).toString('hex'));
    t.deepEqual(decodeUplinkMessage(bytes), message);
  });
}

test('docs/uplink.md BATCH example opens to its two records with seqs 1000 and 1002', (t) => {
  const decoded = decodeUplinkMessage(example('BATCH'));
  if (decoded.type !== 'BATCH') return t.fail();
  const opened = openBatch(decoded);
  t.deepEqual(
    opened.map((r) => [r.seq, r.type]),
    [
      [1000, PacketType.HOSTHB],
      [1002, PacketType.SERIESDATA],
    ],
  );
});
