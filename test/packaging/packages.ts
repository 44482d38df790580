/**
 * The built packages under test: found in the directory OWL_PACKAGE_DIR names (packaging/build.sh's
 * output), extracted with `dpkg-deb -x` into scratch roots, and their programs started from there
 * with the Node they bundle, as the unit would start them but with loopback listeners on free
 * ports and temp state dirs. Without OWL_PACKAGE_DIR the packaging tests are skipped.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE_DIR = process.env['OWL_PACKAGE_DIR'];
export const SKIP_REASON =
  'OWL_PACKAGE_DIR unset: no built packages to check (packaging/build.sh, docs/packaging.md)';
export const PROGRAMS = ['relay', 'upstream', 'agent'] as const;
export type Program = (typeof PROGRAMS)[number];
export type Arch = 'amd64' | 'arm64';

/** The .deb of `program` for `arch` in `dir` (OWL_PACKAGE_DIR), or undefined if that one was not built. */
export function debOf(program: Program, arch: Arch, dir = PACKAGE_DIR): string | undefined {
  if (dir === undefined) return undefined;
  const name = readdirSync(dir).find((f) => f.startsWith(`owl-${program}_`) && f.endsWith(`_${arch}.deb`));
  return name === undefined ? undefined : join(dir, name);
}

/** Every .deb in `dir` (OWL_PACKAGE_DIR). */
export function allDebs(dir = PACKAGE_DIR): string[] {
  if (dir === undefined) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .sort()
    .map((f) => join(dir, f));
}

/** `dpkg-deb -x` into `root`. */
export function extract(deb: string, root: string): void {
  execFileSync('dpkg-deb', ['-x', deb, root]);
}

/** A control field of a .deb. */
export function controlField(deb: string, field: string): string {
  return execFileSync('dpkg-deb', ['-f', deb, field], { encoding: 'utf8' }).trim();
}

/** A program of an extracted package, started with `PackagedProcess.spawn(name, command, args, cwd, env)`. */
export { OwlProcess as PackagedProcess, portOf } from '../helpers/owl-cli.js';

/** The programs updated over the uplink: their package tree is slot `a` of /opt/owl/<program>. */
export const SLOTTED: readonly Program[] = ['relay', 'agent'];

/** `<root>/opt/owl/<program>`: the program's directory (its slots, for a slotted program). */
export function programDir(root: string, program: Program): string {
  return join(root, 'opt', 'owl', program);
}

/** The tree the program runs from: `<dir>/current` (slot a as packaged), or `<dir>` itself. */
export function programTree(root: string, program: Program): string {
  const dir = programDir(root, program);
  return SLOTTED.includes(program) ? join(dir, 'current') : dir;
}

/** The launcher of an extracted program (`<tree>/bin/owl-<program>`, through `current` if slotted). */
export function launcher(root: string, program: Program): string {
  const path = join(programTree(root, program), 'bin', `owl-${program}`);
  if (!existsSync(path)) throw new Error(`no ${path} in the extracted package`);
  return path;
}
