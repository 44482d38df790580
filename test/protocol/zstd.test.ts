import { randomBytes } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { ZstdCompressor, zstdDecompress } from '../../protocol/index.js';

/** JSON-like bytes with fresh digits, as agents send. */
function payload(n: number): Buffer {
  let s = '';
  while (s.length < n) s += `{"uuid":"h-${s.length % 97}","value":${Math.random()},"t":${Date.now()}},`;
  return Buffer.from(s.slice(0, n));
}

for (const impl of ['napi', 'zlib'] as const) {
  test(`${impl}: frames state their content size and decode back, after the reserved prefix`, (t) => {
    const z = new ZstdCompressor({ level: 3, minMatch: 6 }, impl);
    for (const n of [512, 4096, 40_000, 400_000, 1 << 20]) {
      const input = payload(n);
      const out = z.compress(input, 1);
      t.true(out.length < n / 2, `${n} bytes compress`);
      t.deepEqual(zstdDecompress(out.subarray(1), n, 'test'), input);
    }
    const noise = randomBytes(10_000);
    t.deepEqual(zstdDecompress(z.compress(noise), 10_000, 'test'), noise);
  });

  test(`${impl}: any input at any level decodes back within its own size`, (t) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 19 }), (bytes, level) => {
        const input = Buffer.from(bytes);
        const frame = new ZstdCompressor({ level }, impl).compress(input);
        t.deepEqual(zstdDecompress(frame, input.length, 'test'), input);
      }),
      { numRuns: 200 },
    );
  });
}

test('the two libraries make frames each one reads', (t) => {
  const input = payload(100_000);
  const napi = new ZstdCompressor({ level: 3, minMatch: 6 }, 'napi').compress(input);
  const zlib = new ZstdCompressor({ level: 3, minMatch: 6 }, 'zlib').compress(input);
  t.deepEqual(zstdDecompress(napi, input.length, 'napi'), input);
  t.deepEqual(zstdDecompress(zlib, input.length, 'zlib'), input);
  // Same level and parameters: sizes within a few percent (the same zstd algorithm).
  t.true(Math.abs(napi.length - zlib.length) / napi.length < 0.05, `${napi.length} vs ${zlib.length}`);
});
