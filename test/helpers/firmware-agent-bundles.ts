/**
 * Signed owl-agent bundles for the agent's firmware tests, made in a temp dir with the real
 * firmware code (generateKeys, signBundle): never committed keys. Also the slot directory an
 * agent "runs from": version 1.0.0 installed in slot a and committed, as packaging leaves it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeys, loadPrivateKey, type SlotSet } from '../../firmware/index.js';
import {
  fileSha256,
  flipNearEnd,
  HOST_ARCH,
  installCommitted,
  launcherTree,
  signTree,
} from './firmware-kit.js';

export { HOST_ARCH, OTHER_ARCH } from './firmware-kit.js';

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

/**
 * A bundle of a small owl-agent tree; `bulkBytes` of random (incompressible) data make it span
 * several chunks.
 */
export async function makeBundle(
  kit: BundleKit,
  o: { version: string; arch?: string; key?: 'a' | 'b'; bulkBytes?: number; name?: string },
): Promise<TestBundle> {
  const name = o.name ?? `agent-${o.version}-${o.arch ?? HOST_ARCH}-${o.key ?? 'a'}`;
  const tree = launcherTree(join(kit.dir, `${name}-tree`), 'owl-agent', o.version, {
    padBytes: o.bulkBytes ?? 1024,
    padFile: 'bulk.bin',
  });
  const file = await signTree(
    tree,
    join(kit.dir, `${name}.owlfw`),
    loadPrivateKey(o.key === 'b' ? kit.otherPrivateKeyFile : kit.privateKeyFile),
    { program: 'owl-agent', version: o.version, arch: o.arch ?? HOST_ARCH },
  );
  return describeBundle(file, o.version);
}

export function describeBundle(file: string, version: string): TestBundle {
  return { file, id: fileSha256(file), version, size: statSync(file).size };
}

/** A copy of `b` with one byte flipped near its end (in the payload): signature still fine, content not. */
export function tamperedCopy(b: TestBundle, file: string): TestBundle {
  return describeBundle(flipNearEnd(b.file, file), b.version);
}

/** A slot directory running `version` (slot a, committed), as packaging installs it. */
export function installedSlots(root: string, version: string, dir: string): SlotSet {
  return installCommitted(
    root,
    launcherTree(join(dir, `installed-${version}`), 'owl-agent', version),
    version,
  );
}
