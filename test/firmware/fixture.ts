/** Shared by the firmware tests: keys, a sample package tree, signing it; snapshots come from test/helpers/firmware-kit.ts. */
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FirmwareError,
  generateKeys,
  loadPrivateKey,
  loadPublicKeys,
  type PinnedKey,
} from '../../firmware/index.js';
import { signTree } from '../helpers/firmware-kit.js';
import { tempDir } from '../helpers/relay-harness.js';

export { snapshot } from '../helpers/firmware-kit.js';

export interface KeyPair {
  signing: PinnedKey;
  pinned: PinnedKey[];
  publicKeyFile: string;
  privateKeyFile: string;
}

/** A temp dir removed after the test. */
export function scratch(t: ExecutionContext, prefix = 'owl-fw-'): string {
  const dir = tempDir(prefix);
  t.teardown(() => dir.remove());
  return dir.path;
}

export function keyPair(dir: string): KeyPair {
  const k = generateKeys(dir);
  return {
    signing: loadPrivateKey(k.privateKeyFile),
    pinned: loadPublicKeys([k.publicKeyFile]),
    publicKeyFile: k.publicKeyFile,
    privateKeyFile: k.privateKeyFile,
  };
}

/** A small package tree: files, an empty one, a subdir (0700), an executable, a 0600 file, symlinks, and a file over several decompressor buffers. */
export function sampleTree(root: string): string {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'lib/dist'), { recursive: true });
  mkdirSync(join(root, 'private'));
  writeFileSync(join(root, 'bin/owl-relay'), '#!/bin/sh\nexec node "$0/../../lib/dist/cli.js" "$@"\n');
  chmodSync(join(root, 'bin/owl-relay'), 0o755);
  writeFileSync(join(root, 'lib/dist/cli.js'), 'console.log("v2")\n');
  writeFileSync(join(root, 'lib/empty'), '');
  writeFileSync(join(root, 'lib/big.bin'), randomBytes(700 * 1024));
  writeFileSync(join(root, 'private/secret'), 'x');
  chmodSync(join(root, 'private/secret'), 0o600);
  chmodSync(join(root, 'private'), 0o700);
  symlinkSync('../lib/dist/cli.js', join(root, 'bin/cli'));
  symlinkSync('lib', join(root, 'current-lib'));
  return root;
}

/** Signs `tree` as owl-relay 2.0.0 amd64 (min 1.0.0) into `out`, at a fast zstd level. */
export async function signSample(
  tree: string,
  out: string,
  key: PinnedKey,
  extra: { version?: string } = {},
): Promise<string> {
  return signTree(tree, out, key, {
    program: 'owl-relay',
    version: extra.version ?? '2.0.0',
    arch: 'amd64',
    minVersion: '1.0.0',
    level: 3,
  });
}

/** The error `fn` rejects with, which must be a FirmwareError. */
export async function firmwareError(t: ExecutionContext, fn: () => Promise<unknown>): Promise<FirmwareError> {
  const err = await t.throwsAsync(fn);
  if (!(err instanceof FirmwareError)) throw new Error(`not a FirmwareError: ${String(err)}`);
  return err;
}
