/**
 * Firmware for the end-to-end tests: package trees that start the repository's real relay or
 * agent (so v1, v2 and v3 differ only in their slot's version and a file or two), a first install
 * into slots as the .deb leaves it, signed bundles of those trees, and publishing through the
 * upstream's CLI. Keys are made in temp dirs and removed with them.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCommitted, kitKey, signTree, type KitKey } from './firmware-kit.js';
import { OwlProcess } from './owl-cli.js';
import type { ApiTarget } from './upstream-api.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What a tree's launcher does: start the real program; fail at once as a broken release would;
 * or run but never become healthy (a relay whose uplink is never accepted: its token flag is
 * overridden by a wrong one).
 */
export type TreeBehaviour = 'works' | 'exits-at-start' | 'never-healthy';

export interface TreeOptions {
  behaviour?: TreeBehaviour;
  /** Add a file of this many random (incompressible) bytes, for a bundle of a given size. */
  padBytes?: number;
}

/**
 * A package tree of `owl-<program>` at `version` under `dir`: `bin/owl-<program>` starts the
 * repository's `<program>/cli.ts` with this node and tsx; its arguments pass through.
 */
export function programTree(
  dir: string,
  program: 'relay' | 'agent',
  version: string,
  o: TreeOptions = {},
): string {
  const tree = join(dir, `tree-${program}-${version}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'share'), { recursive: true });
  writeFileSync(join(tree, 'share', 'VERSION'), `${version}\n`);
  if (o.padBytes !== undefined) writeFileSync(join(tree, 'share', 'pad.bin'), randomBytes(o.padBytes));
  const extra = o.behaviour === 'never-healthy' ? ' --token not-the-relay-token' : '';
  const run =
    o.behaviour === 'exits-at-start'
      ? `echo "owl-${program} ${version}: cannot start" >&2\nexit 1\n`
      : `cd ${JSON.stringify(REPO_ROOT)}\n` +
        `exec ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(join(REPO_ROOT, program, 'cli.ts'))} "$@"${extra}\n`;
  const launcher = join(tree, 'bin', `owl-${program}`);
  writeFileSync(launcher, `#!/bin/sh\n# owl-${program} ${version} (test tree)\n${run}`);
  chmodSync(launcher, 0o755);
  return tree;
}

/** Install `tree` as the first version in the slots at `root`, as a package install leaves it: committed. */
export function installFirst(root: string, tree: string, version: string): void {
  installCommitted(root, tree, version);
}

export type SigningKey = KitKey;
export const signingKey = kitKey;
export { HOST_ARCH } from './firmware-kit.js';

/** A signed bundle of `tree` (zstd level 3: a test signs often; the default 19 is for releases). */
export async function bundleOf(
  tree: string,
  out: string,
  key: SigningKey,
  o: { program: 'owl-relay' | 'owl-agent'; version: string; arch?: string; minVersion?: string },
): Promise<string> {
  return signTree(tree, out, key.signing, { ...o, level: 3 });
}

/** `owl-upstream firmware <args>` against `api`; its stdout lines, or it throws with its stderr. */
export async function firmwareCli(api: ApiTarget, args: string[]): Promise<string> {
  const proc = OwlProcess.start('upstream', [
    'firmware',
    ...args,
    '--api',
    `http://127.0.0.1:${api.port}`,
    '--token',
    api.token ?? '',
  ]);
  await proc.waitExit(60_000);
  if (proc.exitCode !== 0) {
    throw new Error(`owl-upstream firmware ${args.join(' ')}: ${proc.describeExit()}: ${proc.stderrTail}`);
  }
  return proc.log.map((l) => (typeof l.msg === 'string' ? l.msg : JSON.stringify(l))).join('\n');
}
