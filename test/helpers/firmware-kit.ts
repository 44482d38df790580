/**
 * The pieces every firmware test builds on, with the real firmware code: a key pair made in the
 * test's temp dir (never a committed key), a tiny package tree, a signed bundle of it, a damaged
 * copy, a first install into slots, and a snapshot of a directory (to show a refusal wrote
 * nothing). The per-part fixtures (relay, agent, upstream, end to end) shape these for their tests.
 */
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

/** This machine's architecture as bundles name it, and the other one. */
export const HOST_ARCH: Arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
export const OTHER_ARCH: Arch = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

export interface KitKey {
  signing: PinnedKey;
  /** The public key's PEM file, as relays and agents pin it (`firmware.keys`). */
  publicKeyFile: string;
  privateKeyFile: string;
}

/** A new Ed25519 key pair under `dir`. */
export function kitKey(dir: string): KitKey {
  const k = generateKeys(dir);
  return { signing: loadPrivateKey(k.privateKeyFile), ...k };
}

/**
 * A package tree at `tree`: `bin/<program>`, a shell script naming the version, and optionally
 * `padBytes` random (incompressible) bytes in `padFile`, for a bundle of about that size.
 */
export function launcherTree(
  tree: string,
  program: string,
  version: string,
  o: { padBytes?: number; padFile?: string } = {},
): string {
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'bin', program), `#!/bin/sh\necho ${program} ${version}\n`);
  chmodSync(join(tree, 'bin', program), 0o755);
  if (o.padBytes !== undefined && o.padBytes > 0)
    writeFileSync(join(tree, o.padFile ?? 'pad.bin'), randomBytes(o.padBytes));
  return tree;
}

export interface KitManifest {
  program: string;
  version: string;
  arch?: string;
  minVersion?: string;
  /** zstd level: tests sign often, so 1 by default (releases use 19). */
  level?: number;
}

/** Sign `tree` into `out` (for this machine's arch unless told). */
export async function signTree(tree: string, out: string, key: PinnedKey, m: KitManifest): Promise<string> {
  await signBundle({
    tree,
    out,
    key,
    program: m.program,
    version: m.version,
    arch: m.arch ?? HOST_ARCH,
    ...(m.minVersion === undefined ? {} : { minVersion: m.minVersion }),
    level: m.level ?? 1,
  });
  return out;
}

/** sha256 of a file, hex: a bundle's id. */
export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Copy `file` to `out` with one byte flipped near its end (in the payload): the signature still holds. */
export function flipNearEnd(file: string, out: string): string {
  const bytes = readFileSync(file);
  const at = bytes.length - 10;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(out, bytes);
  return out;
}

/** Install `tree` as the first version in the slots at `root`, as a package install leaves it: committed. */
export function installCommitted(root: string, tree: string, version: string): SlotSet {
  const slots = new SlotSet({ root });
  slots.install(tree, version);
  slots.switch();
  slots.commit();
  return slots;
}

/** Every entry under `root` with its kind, mode and content hash or link target, in path order. */
export function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(join(root, path))}`);
      else if (st.isDirectory()) {
        out.push(`${path}/ ${mode}`);
        walk(path);
      } else out.push(`${path} ${mode} ${fileSha256(join(root, path))}`);
    }
  };
  walk('');
  return out;
}
