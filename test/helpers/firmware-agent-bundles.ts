/**
 * Signed owl-agent bundles for the agent's firmware tests, made in a temp dir with the real
 * firmware code (generateKeys, signBundle): never committed keys. Also the slot directory an
 * agent "runs from": version 1.0.0 installed in slot a and committed, as packaging leaves it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeys, loadPrivateKey, SlotSet, signBundle } from '../../firmware/index.js';

export interface TestBundle {
  file: string;
  id: string;
  version: string;
  size: number;
}

export interface BundleKit {
  dir: string;
  /** The public key the agent pins. */
  publicKeyFile: string;
  /** Another key pair's public key (a wrong key). */
  otherPublicKeyFile: string;
  privateKeyFile: string;
  otherPrivateKeyFile: string;
}

export function bundleKit(dir: string): BundleKit {
  const a = generateKeys(join(dir, 'keys-a'));
  const b = generateKeys(join(dir, 'keys-b'));
  return {
    dir,
    publicKeyFile: a.publicKeyFile,
    otherPublicKeyFile: b.publicKeyFile,
    privateKeyFile: a.privateKeyFile,
    otherPrivateKeyFile: b.privateKeyFile,
  };
}

/** This machine's arch in the bundles' names. */
export const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
export const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

/**
 * A bundle of a small owl-agent tree; `bulkBytes` of random (incompressible) data make it span
 * several chunks.
 */
export async function makeBundle(
  kit: BundleKit,
  o: { version: string; arch?: string; key?: 'a' | 'b'; bulkBytes?: number; name?: string },
): Promise<TestBundle> {
  const name = o.name ?? `agent-${o.version}-${o.arch ?? HOST_ARCH}-${o.key ?? 'a'}`;
  const tree = join(kit.dir, `${name}-tree`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin', 'owl-agent'), `#!/bin/sh\necho owl-agent ${o.version}\n`, { mode: 0o755 });
  writeFileSync(join(tree, 'bulk.bin'), randomBytes(o.bulkBytes ?? 1024));
  const file = join(kit.dir, `${name}.owlfw`);
  await signBundle({
    tree,
    out: file,
    key: loadPrivateKey(o.key === 'b' ? kit.otherPrivateKeyFile : kit.privateKeyFile),
    program: 'owl-agent',
    version: o.version,
    arch: o.arch ?? HOST_ARCH,
    level: 1,
  });
  return describeBundle(file, o.version);
}

export function describeBundle(file: string, version: string): TestBundle {
  const bytes = readFileSync(file);
  return { file, id: createHash('sha256').update(bytes).digest('hex'), version, size: bytes.length };
}

/** A copy of `b` with one byte flipped near its end (in the payload): signature still fine, content not. */
export function tamperedCopy(b: TestBundle, file: string): TestBundle {
  const bytes = readFileSync(b.file);
  const at = bytes.length - 10;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(file, bytes);
  return describeBundle(file, b.version);
}

/** A slot directory running `version` (slot a, committed), as packaging installs it. */
export function installedSlots(root: string, version: string, dir: string): SlotSet {
  const tree = join(dir, `installed-${version}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin', 'owl-agent'), `#!/bin/sh\necho owl-agent ${version}\n`, { mode: 0o755 });
  const slots = new SlotSet({ root });
  slots.install(tree, version);
  slots.switch();
  slots.commit();
  return slots;
}
