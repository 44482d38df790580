/**
 * Property tests: whatever bytes arrive, the decoder and parser yield frames,
 * packets or coded OwlErrors, never another exception, and never buffer a
 * frame past the configured limit.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  defaultParser,
  encodePacket,
  FrameDecoder,
  OwlError,
  type PacketType,
} from '../../protocol/index.js';
import { fixtures } from './fixtures.js';

const MAX = 2048;
const TIME_LIMIT_MS = 4000;

/** Feed `chunks`, parse every frame; returns how many frames/packets/errors were seen. Rethrows anything uncoded. */
function feed(chunks: Uint8Array[]): void {
  const decoder = new FrameDecoder({ maxFrameBytes: MAX });
  for (const chunk of chunks) {
    let frames;
    try {
      frames = decoder.push(Buffer.from(chunk));
    } catch (err) {
      if (err instanceof OwlError) return;
      throw err;
    }
    // Buffered bytes never exceed one frame plus what is held for the next header.
    if (decoder.bufferedBytes > MAX + 4 + chunk.length) throw new Error(`buffered ${decoder.bufferedBytes}`);
    for (const frame of frames) {
      if (frame.body.length > MAX - 1) throw new Error(`frame of ${frame.body.length} bytes past the limit`);
      try {
        defaultParser.parse(frame);
      } catch (err) {
        if (!(err instanceof OwlError)) throw err;
      }
    }
  }
}

const valid = Object.entries(fixtures).map(([type, body]) =>
  encodePacket(Number(type) as PacketType, body as never),
);

test('random bytes give frames or coded errors, never another exception', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 8 }), (chunks) => feed(chunks)),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  t.pass();
});

test('mutated valid frames give packets or coded errors, never another exception', (t) => {
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 64 }),
    )
    .map(([frame, edits, chunkSize]) => {
      const copy = Buffer.from(frame);
      for (const [pos, byte] of edits) copy[pos % copy.length] = byte;
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < copy.length; i += chunkSize) chunks.push(copy.subarray(i, i + chunkSize));
      return chunks;
    });
  fc.assert(
    fc.property(mutated, (chunks) => feed(chunks)),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  t.pass();
});

test('random JSON bodies for every type give packets or coded errors', (t) => {
  const types = valid.map((f) => f[4] as number);
  fc.assert(
    fc.property(fc.constantFrom(...types), fc.jsonValue({ maxDepth: 6 }), (type, value) => {
      try {
        defaultParser.validateBody(type, value);
      } catch (err) {
        if (!(err instanceof OwlError)) throw err;
      }
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 20_000 },
  );
  t.pass();
});

test('a huge declared length allocates nothing', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: MAX });
  const before = process.memoryUsage().arrayBuffers;
  t.throws(() => decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 4])));
  t.is(decoder.bufferedBytes, 0);
  t.true(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
});
