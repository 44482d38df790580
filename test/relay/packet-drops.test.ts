/**
 * The log of packets dropped from v3 peers (relay/packet-drops.ts): every drop
 * counted, the first logged at once, then at most one line per interval with
 * the count since, however many arrive. Clock driven by the test.
 */
import test from 'ava';
import { ErrorCode, OwlError } from '../../protocol/index.js';
import { PacketDrops } from '../../relay/index.js';

function setup() {
  let now = 1_000_000;
  const lines: Record<string, unknown>[] = [];
  const counted: string[] = [];
  const drops = new PacketDrops({
    log: { warn: (obj) => lines.push(obj as Record<string, unknown>) },
    now: () => now,
    onDropped: (e) => counted.push(e.code),
    intervalMs: 60_000,
  });
  return { drops, lines, counted, advance: (ms: number) => (now += ms) };
}

test('the first drop is logged at once, then one line per interval with the count since', (t) => {
  const { drops, lines, counted, advance } = setup();
  drops.dropped('10.0.0.1', new OwlError(ErrorCode.BAD_JSON, 'bad JSON'));
  t.is(lines.length, 1);
  t.like(lines[0], { dropped: 1, droppedTotal: 1, sources: 1, agent: '10.0.0.1', code: ErrorCode.BAD_JSON });
  for (let i = 0; i < 10_000; i++) {
    drops.dropped(`10.0.0.${i % 3}`, new OwlError(ErrorCode.BAD_FIELD, 'bad field'));
    advance(1);
  }
  t.is(lines.length, 1, 'nothing more within the interval');
  advance(60_000);
  drops.dropped('10.0.0.9', new OwlError(ErrorCode.EMPTY_BODY, 'empty'));
  t.is(lines.length, 2);
  t.like(lines[1], {
    dropped: 10_001,
    droppedTotal: 10_002,
    sources: 4,
    agent: '10.0.0.9',
    code: ErrorCode.EMPTY_BODY,
  });
  t.is(drops.count, 10_002);
  t.is(counted.length, 10_002);
  drops.flush();
  t.is(lines.length, 2, 'flush with nothing new logs nothing');
  advance(1);
  drops.dropped('10.0.0.9', new OwlError(ErrorCode.EMPTY_BODY, 'empty'));
  drops.flush();
  t.like(lines[2], { dropped: 1, droppedTotal: 10_003 });
});
