/**
 * Signed bundles for the upstream's firmware tests: a tiny package tree (a VERSION file, and
 * optionally incompressible padding for a bundle of a given size), signed with a key made in the
 * test's temp dir (never a committed key). The bundle id is the sha256 of the file.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PinnedKey } from '../../firmware/index.js';
import { fileSha256, kitKey, signTree } from './firmware-kit.js';

export interface TestKey {
  signing: PinnedKey;
  publicKeyFile: string;
}

/** A new Ed25519 key pair under `dir/<name>`. */
export function testKey(dir: string, name = 'key'): TestKey {
  return kitKey(join(dir, name));
}

export interface TestBundle {
  file: string;
  /** sha256 of the file: the bundle id. */
  id: string;
  bytes: Buffer;
}

let made = 0;

/** A signed bundle of a small tree; `padBytes` random bytes make it that much larger. */
export async function testBundle(
  dir: string,
  key: TestKey,
  o: {
    program: 'owl-relay' | 'owl-agent' | 'owl-upstream';
    version: string;
    arch?: 'amd64' | 'arm64';
    minVersion?: string;
    padBytes?: number;
  },
): Promise<TestBundle> {
  const n = ++made;
  const tree = join(dir, `tree-${n}`);
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'VERSION'), `${o.version}\n`);
  if (o.padBytes !== undefined) writeFileSync(join(tree, 'pad.bin'), randomBytes(o.padBytes));
  const file = await signTree(tree, join(dir, `${o.program}-${o.version}-${n}.owlfw`), key.signing, {
    ...o,
    arch: o.arch ?? 'amd64',
  });
  return { file, id: fileSha256(file), bytes: readFileSync(file) };
}
