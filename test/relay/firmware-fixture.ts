/**
 * Shared by the relay firmware tests: keys, tiny package trees, signed bundles, a slot root the
 * relay "runs from", and snapshots of a directory (to show a refusal wrote nothing to a slot).
 */
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Arch, PinnedKey } from '../../firmware/index.js';
import { hostArch } from '../../relay/firmware/index.js';
import {
  fileSha256,
  flipNearEnd,
  installCommitted,
  kitKey,
  launcherTree,
  signTree,
} from '../helpers/firmware-kit.js';
import { tempDir } from '../helpers/relay-harness.js';

export { snapshot } from '../helpers/firmware-kit.js';

/** This host's arch in bundle terms, and the other one. */
export const ARCH: Arch = hostArch() ?? 'amd64';
export const OTHER_ARCH: Arch = ARCH === 'amd64' ? 'arm64' : 'amd64';

export function scratch(t: ExecutionContext, prefix = 'owl-relay-fw-'): string {
  const dir = tempDir(prefix);
  t.teardown(() => dir.remove());
  return dir.path;
}

export interface SigningKey {
  key: PinnedKey;
  /** The public key's PEM file, for `firmware.keys`. */
  publicKeyFile: string;
}

export function signingKey(dir: string): SigningKey {
  const k = kitKey(dir);
  return { key: k.signing, publicKeyFile: k.publicKeyFile };
}

/** A package tree: `bin/<program>` (a shell script naming the version) and `filler` random bytes. */
export function packageTree(dir: string, program: string, version: string, filler = 0): string {
  const tree = join(dir, `tree-${program}-${version}-${randomBytes(4).toString('hex')}`);
  return launcherTree(tree, program, version, { padBytes: filler, padFile: 'filler.bin' });
}

export interface BundleSpec {
  program: 'owl-relay' | 'owl-agent';
  version: string;
  arch?: Arch;
  minVersion?: string;
  /** Random bytes in the tree (incompressible: the bundle is about this big). */
  filler?: number;
}

/** A signed bundle file of `spec` under `dir`. */
export async function makeBundle(dir: string, key: SigningKey, spec: BundleSpec): Promise<string> {
  const tree = packageTree(dir, spec.program, spec.version, spec.filler ?? 0);
  const out = join(dir, `${spec.program}-${spec.version}-${randomBytes(4).toString('hex')}.owlfw`);
  return signTree(tree, out, key.key, {
    program: spec.program,
    version: spec.version,
    arch: spec.arch ?? ARCH,
    minVersion: spec.minVersion ?? '0.0.1',
  });
}

/** A copy of `file` with one byte flipped near its end (in the payload): the signature still holds. */
export function tampered(file: string): string {
  return flipNearEnd(file, `${file}.tampered`);
}

/** A slot root running owl-relay `version` (installed, switched, committed), as a packaged relay has. */
export function slotRoot(dir: string, version: string): string {
  const root = join(dir, 'opt-owl-relay');
  installCommitted(root, packageTree(dir, 'owl-relay', version), version);
  return root;
}

export const sha256 = fileSha256;
