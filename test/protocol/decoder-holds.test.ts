import test from 'ava';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../protocol/index.js';

test('a chunk whose frames are done is not held: the start of the next frame is copied out of it', (t) => {
  const frames = [1, 2, 3].map((i) => encodeFrame(2, Buffer.alloc(100 * i, i)));
  const stream = Buffer.concat(frames);
  const decoder = new FrameDecoder();
  const first = stream.subarray(0, 250); // frame 1 whole, frame 2 cut
  t.is(decoder.push(first).length, 1);
  t.false(decoder.holds(first));
  first.fill(0xee); // the caller may reuse or free it now
  const rest = decoder.push(stream.subarray(250));
  t.deepEqual(
    rest.map((f) => f.body),
    [Buffer.alloc(200, 2), Buffer.alloc(300, 3)],
  );
});

test('a frame spanning several chunks holds them until it completes, and decodes the same', (t) => {
  const body = Buffer.alloc(10_000, 7);
  const stream = encodeFrame(2, body);
  const decoder = new FrameDecoder();
  const a = stream.subarray(0, 4000);
  const b = stream.subarray(4000, 8000);
  t.is(decoder.push(a).length, 0);
  t.is(decoder.push(b).length, 0);
  t.true(decoder.holds(a) || decoder.holds(b));
  const [frame] = decoder.push(stream.subarray(8000));
  t.deepEqual(frame?.body, body);
  t.false(decoder.holds(a) || decoder.holds(b));
});

test('any chunking gives the same frames', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }),
      (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map((b) => encodeFrame(2, Buffer.from(b))));
        const decoder = new FrameDecoder();
        const out: Buffer[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          const chunk = Buffer.from(stream.subarray(at, at + n)); // a buffer of its own, as reads are
          for (const f of decoder.push(chunk)) out.push(Buffer.from(f.body));
          if (!decoder.holds(chunk)) chunk.fill(0xee); // what is not held may be overwritten
          at += n;
        }
        t.deepEqual(
          out,
          bodies.map((b) => Buffer.from(b)),
        );
      },
    ),
    { numRuns: 300 },
  );
});
