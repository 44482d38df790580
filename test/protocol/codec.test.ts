import test from 'ava';
import fc from 'fast-check';
import {
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  FrameError,
  HEADER_BYTES,
  type Frame,
} from '../../protocol/index.js';

function frameOf(type: number, body: string): Buffer {
  return encodeFrame(type, body);
}

function decodeAll(chunks: Buffer[], maxFrameBytes?: number): Frame[] {
  const decoder = new FrameDecoder(maxFrameBytes === undefined ? {} : { maxFrameBytes });
  const out: Frame[] = [];
  for (const chunk of chunks) out.push(...decoder.push(chunk));
  decoder.end();
  // Copy bodies so comparisons do not depend on chunk lifetimes.
  return out.map((f) => ({ type: f.type, body: Buffer.from(f.body) }));
}

const stream = Buffer.concat([
  frameOf(4, '{"a":1}'),
  frameOf(2, ''),
  frameOf(0, '{"uuid":"x"}'),
  frameOf(14, ''),
  frameOf(13, '{"uuid":"' + 'y'.repeat(300) + '"}'),
]);

test('encoder writes | N | type | body | with N counting the type byte', (t) => {
  const f = encodeFrame(4, '{}');
  t.is(f.length, HEADER_BYTES + 1 + 2);
  t.is(f.readUInt32BE(0), 3);
  t.is(f[4], 4);
  t.is(f.subarray(5).toString(), '{}');
  t.deepEqual([...encodeFrame(2)], [0, 0, 0, 1, 2]);
  t.deepEqual(encodeFrame(7, Buffer.from('é')), encodeFrame(7, 'é'));
});

test('encoder rejects a type that is not a byte', (t) => {
  t.is(t.throws<FrameError>(() => encodeFrame(256, ''))?.code, ErrorCode.UNKNOWN_TYPE);
  t.is(t.throws<FrameError>(() => encodeFrame(-1, ''))?.code, ErrorCode.UNKNOWN_TYPE);
});

test('decoding byte by byte equals decoding the whole buffer', (t) => {
  const whole = decodeAll([stream]);
  t.is(whole.length, 5);
  const bytes = [...stream].map((b) => Buffer.from([b]));
  t.deepEqual(decodeAll(bytes), whole);
});

test('decoding at random split points equals decoding the whole buffer', (t) => {
  const whole = decodeAll([stream]);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
      const chunks = points.slice(1).map((end, i) => stream.subarray(points[i], end));
      t.deepEqual(decodeAll(chunks), whole);
    }),
    { numRuns: 300 },
  );
});

test('a frame inside one chunk is returned without a copy', (t) => {
  const chunk = frameOf(4, '{"a":1}');
  const [frame] = new FrameDecoder().push(chunk);
  t.truthy(frame);
  t.is(frame?.body.buffer, chunk.buffer);
});

test('N = 0 is rejected with OWL_ERR_EMPTY_FRAME', (t) => {
  const decoder = new FrameDecoder();
  const err = t.throws(() => decoder.push(Buffer.from([0, 0, 0, 0, 9])), { instanceOf: FrameError });
  t.is(err?.code, ErrorCode.EMPTY_FRAME);
});

test('an oversized length is rejected from the header alone, before any body arrives', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(4097);
  const err = t.throws<FrameError>(() => decoder.push(header));
  t.is(err?.code, ErrorCode.FRAME_TOO_LARGE);
  t.is(decoder.bufferedBytes, 0);
  // A dead decoder stays dead: the stream can no longer be framed.
  t.is(t.throws<FrameError>(() => decoder.push(frameOf(4, '{}')))?.code, ErrorCode.FRAME_TOO_LARGE);
});

test('a frame of exactly the limit is accepted', (t) => {
  const body = 'x'.repeat(99);
  const frames = decodeAll([frameOf(4, body)], 100);
  t.is(frames[0]?.body.length, 99);
  t.throws(() => decodeAll([frameOf(4, body + 'x')], 100), { code: ErrorCode.FRAME_TOO_LARGE });
});

test('a stream cut inside a frame is reported by end()', (t) => {
  const decoder = new FrameDecoder();
  decoder.push(stream.subarray(0, 7));
  t.false(decoder.idle);
  t.is(t.throws<FrameError>(() => decoder.end())?.code, ErrorCode.TRUNCATED_FRAME);
});

test('the maximum frame size must be a positive integer', (t) => {
  t.throws(() => new FrameDecoder({ maxFrameBytes: 0 }), { instanceOf: RangeError });
});

test('good frames before a bad header in the same chunk are returned; the error follows', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: 100 });
  const bad = Buffer.alloc(4);
  bad.writeUInt32BE(101);
  const frames = decoder.push(Buffer.concat([frameOf(4, '{"a":1}'), frameOf(13, '{}'), bad]));
  t.deepEqual(
    frames.map((f) => f.type),
    [4, 13],
  );
  t.is(decoder.error?.code, ErrorCode.FRAME_TOO_LARGE);
  t.is(t.throws<FrameError>(() => decoder.push(frameOf(4, '{}')))?.code, ErrorCode.FRAME_TOO_LARGE);
});
