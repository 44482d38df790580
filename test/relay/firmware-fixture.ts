/**
 * Shared by the relay firmware tests: keys, tiny package trees, signed bundles, a slot root the
 * relay "runs from", and snapshots of a directory (to show a refusal wrote nothing to a slot).
 */
import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  generateKeys,
  loadPrivateKey,
  signBundle,
  SlotSet,
  type Arch,
  type PinnedKey,
} from '../../firmware/index.js';
import { hostArch } from '../../relay/firmware/index.js';
import { tempDir } from '../helpers/relay-harness.js';

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
  mkdirSync(dir, { recursive: true });
  const k = generateKeys(dir);
  return { key: loadPrivateKey(k.privateKeyFile), publicKeyFile: k.publicKeyFile };
}

/** A package tree: `bin/<program>` (a shell script naming the version) and `filler` random bytes. */
export function packageTree(dir: string, program: string, version: string, filler = 0): string {
  const tree = join(dir, `tree-${program}-${version}-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin', program), `#!/bin/sh\necho ${program} ${version}\n`);
  chmodSync(join(tree, 'bin', program), 0o755);
  if (filler > 0) writeFileSync(join(tree, 'filler.bin'), randomBytes(filler));
  return tree;
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
  await signBundle({
    tree,
    out,
    key: key.key,
    program: spec.program,
    version: spec.version,
    arch: spec.arch ?? ARCH,
    minVersion: spec.minVersion ?? '0.0.1',
    level: 1,
  });
  return out;
}

/** A copy of `file` with one byte flipped near its end (in the payload): the signature still holds. */
export function tampered(file: string): string {
  const bytes = readFileSync(file);
  const at = bytes.length - 10;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  const out = `${file}.tampered`;
  writeFileSync(out, bytes);
  return out;
}

/** A slot root running owl-relay `version` (installed, switched, committed), as a packaged relay has. */
export function slotRoot(dir: string, version: string): string {
  const root = join(dir, 'opt-owl-relay');
  const slots = new SlotSet({ root });
  slots.install(packageTree(dir, 'owl-relay', version), version);
  slots.switch();
  slots.commit();
  return root;
}

/** Every entry under `root` with its kind, mode and content hash or link target, in path order. */
export function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(join(root, path))}`);
      else if (st.isDirectory()) {
        out.push(`${path}/ ${(st.mode & 0o7777).toString(8)}`);
        walk(path);
      } else {
        const hash = createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex');
        out.push(`${path} ${(st.mode & 0o7777).toString(8)} ${hash}`);
      }
    }
  };
  walk('');
  return out;
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
