/**
 * Every byte of a bundle is authenticated (header and manifest by the signature, the payload by
 * its sha256 in the manifest): any single-byte change anywhere, and any truncation, is refused
 * with a coded error, and the staging dir never survives it. fast-check picks the positions.
 */
import test from 'ava';
import fc from 'fast-check';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareError, FirmwareErrorCode, signBundle, verifyBundle } from '../../firmware/index.js';
import { keyPair, scratch } from './fixture.js';

test('any single-byte change or truncation anywhere in a bundle is refused and stages nothing', async (t) => {
  const dir = scratch(t);
  const keys = keyPair(join(dir, 'keys'));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin/run'), '#!/bin/sh\necho v2\n', { mode: 0o755 });
  writeFileSync(join(tree, 'data'), 'x'.repeat(5000));
  const file = join(dir, 'b.owlfw');
  await signBundle({
    tree,
    out: file,
    key: keys.signing,
    program: 'owl-agent',
    version: '2.0.0',
    arch: 'arm64',
    level: 3,
  });
  const bundle = readFileSync(file);
  const work = join(dir, 'work');
  mkdirSync(work);
  let n = 0;
  const refused = async (bytes: Buffer): Promise<boolean> => {
    const f = join(work, `c${++n}`);
    writeFileSync(f, bytes);
    const staging = join(work, `s${n}`);
    try {
      await verifyBundle(f, { keys: keys.pinned, staging, program: 'owl-agent', arch: 'arm64', sync: false });
      return false;
    } catch (err) {
      // Refused for what it is (not an I/O accident), and nothing staged survives.
      return err instanceof FirmwareError && err.code !== FirmwareErrorCode.IO && !existsSync(staging);
    }
  };
  await fc.assert(
    fc.asyncProperty(fc.nat(bundle.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const b = Buffer.from(bundle);
      b[at] = b[at]! ^ xor;
      return refused(b);
    }),
    { numRuns: 300 },
  );
  // The payload is a small share of a small bundle: corrupt it on purpose too.
  const payloadAt = 32 + bundle.readUInt32BE(12) + 64;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: payloadAt, max: bundle.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      async (at, xor) => {
        const b = Buffer.from(bundle);
        b[at] = b[at]! ^ xor;
        return refused(b);
      },
    ),
    { numRuns: 100 },
  );
  await fc.assert(
    fc.asyncProperty(fc.nat(bundle.length - 1), async (len) => refused(bundle.subarray(0, len))),
    { numRuns: 100 },
  );
  t.true(await refused(Buffer.alloc(0)));
  t.false(await refused(bundle), 'the untouched bundle verifies');
  t.true(
    readdirSync(work).every((name) => name.startsWith('c') || name === `s${n}`),
    'only the last (good) staging dir is left',
  );
});
