/**
 * Semantic versions (semver.org 2.0.0): parse and order. Small enough not to need a dependency
 * on the gateway. Build metadata (`+…`) is kept in the text but, as semver says, does not order:
 * `1.2.0+a` and `1.2.0+b` are the same version.
 */

// The semver.org regular expression, numbered parts without leading zeros.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface SemVer {
  core: [number, number, number];
  prerelease: string[];
}

/** The version, or undefined when `text` is not a semantic version (or a number is unsafe). */
export function parseSemVer(text: string): SemVer | undefined {
  if (text.length > 128) return undefined;
  const m = SEMVER.exec(text);
  if (m === null) return undefined;
  const core = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  if (!core.every(Number.isSafeInteger)) return undefined;
  return { core, prerelease: m[4] === undefined ? [] : m[4].split('.') };
}

export function isSemVer(text: string): boolean {
  return parseSemVer(text) !== undefined;
}

/** Negative, zero or positive as `a` is older than, the same as, or newer than `b`. Both must parse. */
export function compareSemVer(a: string, b: string): number {
  const x = parseSemVer(a);
  const y = parseSemVer(b);
  if (x === undefined || y === undefined) throw new TypeError(`not a semantic version: ${x ? b : a}`);
  for (let i = 0; i < 3; i++) {
    const d = x.core[i]! - y.core[i]!;
    if (d !== 0) return Math.sign(d);
  }
  // A pre-release orders before its release; then field by field.
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return y.prerelease.length - x.prerelease.length === 0 ? 0 : x.prerelease.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(x.prerelease.length, y.prerelease.length); i++) {
    const d = comparePart(x.prerelease[i]!, y.prerelease[i]!);
    if (d !== 0) return d;
  }
  return Math.sign(x.prerelease.length - y.prerelease.length);
}

function comparePart(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  // Numbers without leading zeros: the longer is larger, else the text orders (no precision lost).
  if (an && bn) return a.length !== b.length ? Math.sign(a.length - b.length) : a < b ? -1 : a > b ? 1 : 0;
  if (an !== bn) return an ? -1 : 1; // numeric identifiers order before alphanumeric ones
  return a < b ? -1 : a > b ? 1 : 0;
}
