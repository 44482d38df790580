/**
 * Signed bundles for the upstream's firmware tests: a tiny package tree (a VERSION file, and
 * optionally incompressible padding for a bundle of a given size), signed with a key made in the
 * test's temp dir (never a committed key). The bundle id is the sha256 of the file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeys, loadPrivateKey, signBundle, type PinnedKey } from '../../firmware/index.js';

export interface TestKey {
  signing: PinnedKey;
  publicKeyFile: string;
}

/** A new Ed25519 key pair under `dir/<name>`. */
export function testKey(dir: string, name = 'key'): TestKey {
  const k = generateKeys(join(dir, name));
  return { signing: loadPrivateKey(k.privateKeyFile), publicKeyFile: k.publicKeyFile };
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
  const file = join(dir, `${o.program}-${o.version}-${n}.owlfw`);
  await signBundle({
    tree,
    out: file,
    key: key.signing,
    program: o.program,
    version: o.version,
    arch: o.arch ?? 'amd64',
    ...(o.minVersion === undefined ? {} : { minVersion: o.minVersion }),
    level: 1,
  });
  const bytes = readFileSync(file);
  return { file, id: createHash('sha256').update(bytes).digest('hex'), bytes };
}
