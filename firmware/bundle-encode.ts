/**
 * A bundle built in memory from a given manifest and payload, with no tree rule checked: what
 * tests and tools use to make exactly the bundle they mean, including crafted ones a verifier
 * must refuse (a `..` path signed with a real key). `signBundle` is the way to make real ones.
 */
import { createHash, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { encodeHeader } from './format.js';
import type { PinnedKey } from './keys.js';
import { encodeManifest, type Manifest } from './manifest.js';

const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;

/** `files`: the concatenated file bytes; the manifest's keyId and payload are filled in. */
export function encodeBundle(
  manifest: Omit<Manifest, 'keyId' | 'payload'>,
  files: Buffer,
  key: PinnedKey,
): Buffer {
  const out = Buffer.allocUnsafe(zstd.compressBound(files.length));
  const payload = Buffer.from(out.subarray(0, new zstd.CCtx().compress2(out, files)));
  const full: Manifest = {
    ...manifest,
    keyId: key.keyId,
    payload: {
      encoding: 'zstd',
      size: payload.length,
      sha256: createHash('sha256').update(payload).digest('hex'),
    },
  };
  const manifestBytes = encodeManifest(full);
  const header = encodeHeader({
    manifestLength: manifestBytes.length,
    keyId: key.keyId,
    payloadLength: payload.length,
  });
  const signature = sign(null, Buffer.concat([header, manifestBytes]), key.key);
  return Buffer.concat([header, manifestBytes, signature, payload]);
}
