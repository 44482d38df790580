/**
 * The manifest: what a bundle holds and for what. Signed, and the only authority on the tree:
 * every path, type, mode, size, hash and link target the unpacker writes comes from here, and
 * `parseManifest` refuses anything that could write outside the staging dir or through a link.
 *
 * Tree rules (checked at sign and again at verify, so a signed but crafted manifest is refused too):
 * - paths are relative, `/`-separated, without empty, `.` or `..` parts, NUL, or duplicates;
 * - an entry's parent directory is listed before it (so nothing is ever written through a link);
 * - types: directory, regular file, symlink; modes are permission bits only (no setuid/setgid);
 * - a symlink's target is relative, stays inside the tree, and passes through no other symlink
 *   on the way (a link to a link is fine as the last step: that link obeys the same rule).
 */
import { corrupt } from './format.js';
import { isSemVer } from './semver.js';

export const PROGRAMS = ['owl-relay', 'owl-upstream', 'owl-agent'] as const;
export type Program = (typeof PROGRAMS)[number];
export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

export type Entry =
  | { path: string; type: 'dir'; mode: string }
  | { path: string; type: 'file'; mode: string; size: number; sha256: string }
  | { path: string; type: 'symlink'; target: string };

export interface Manifest {
  program: Program;
  version: string;
  arch: Arch;
  /** The lowest running version that may install this bundle. */
  minVersion: string;
  /** ISO 8601, UTC. */
  createdAt: string;
  /** 16 hex digits, the signing key's id (equal to the header's). */
  keyId: string;
  payload: { encoding: 'zstd'; size: number; sha256: string };
  files: Entry[];
}

const MAX_PATH = 4096;
const MAX_NAME = 255;
const MODE = /^0[0-7]{3}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;

/** The exact bytes that are signed. Key order is fixed by the object literal order. */
export function encodeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

/** The manifest in `bytes`, fully checked; CORRUPT names the first thing wrong. */
export function parseManifest(bytes: Buffer): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corrupt('the manifest is not valid UTF-8 JSON');
  }
  const m = object(raw, 'manifest', [
    'program',
    'version',
    'arch',
    'minVersion',
    'createdAt',
    'keyId',
    'payload',
    'files',
  ]);
  const program = oneOf(m['program'], PROGRAMS, 'program');
  const arch = oneOf(m['arch'], ARCHES, 'arch');
  const version = semver(m['version'], 'version');
  const minVersion = semver(m['minVersion'], 'minVersion');
  const createdAt = str(m['createdAt'], 'createdAt');
  if (Number.isNaN(Date.parse(createdAt))) throw bad('createdAt', 'is not a date');
  const keyId = match(m['keyId'], KEY_ID, 'keyId', '16 hex digits');
  const p = object(m['payload'], 'payload', ['encoding', 'size', 'sha256']);
  if (p['encoding'] !== 'zstd') throw bad('payload.encoding', 'must be "zstd"');
  const payload = {
    encoding: 'zstd' as const,
    size: size(p['size'], 'payload.size'),
    sha256: match(p['sha256'], SHA256, 'payload.sha256', '64 hex digits'),
  };
  if (!Array.isArray(m['files'])) throw bad('files', 'must be an array');
  const files = m['files'].map((e, i) => entry(e, `files[${i}]`));
  checkTree(files);
  return { program, version, arch, minVersion, createdAt, keyId, payload, files };
}

/** Refuses a list of entries that breaks a tree rule (see the top of this file). */
export function checkTree(files: Entry[]): void {
  const types = new Map<string, Entry['type']>();
  for (const e of files) {
    checkPath(e.path);
    if (types.has(e.path)) throw corrupt(`${e.path}: listed twice`);
    const parent = dirname(e.path);
    if (parent !== '' && types.get(parent) !== 'dir') {
      throw corrupt(`${e.path}: its parent ${parent} is not a directory listed before it`);
    }
    types.set(e.path, e.type);
  }
  // Once every type is known: a link may point through a link listed after it.
  for (const e of files) if (e.type === 'symlink') checkLink(e.path, e.target, types);
}

function checkPath(path: string): void {
  if (path.length === 0 || path.length > MAX_PATH)
    throw corrupt(`bad path ${JSON.stringify(path)}: empty or too long`);
  if (path.startsWith('/')) throw corrupt(`bad path ${path}: absolute`);
  if (path.includes('\0')) throw corrupt(`bad path ${JSON.stringify(path)}: holds a NUL`);
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') throw corrupt(`bad path ${path}: empty, . or .. part`);
    if (Buffer.byteLength(part) > MAX_NAME) throw corrupt(`bad path ${path}: a name over ${MAX_NAME} bytes`);
  }
}

/** The target, walked from the link's directory, stays inside and crosses no other link. */
function checkLink(path: string, target: string, types: Map<string, Entry['type']>): void {
  if (target.length === 0 || target.length > MAX_PATH || target.includes('\0')) {
    throw corrupt(`symlink ${path}: bad target`);
  }
  if (target.startsWith('/')) throw corrupt(`symlink ${path} -> ${target}: absolute target`);
  const at = dirname(path) === '' ? [] : dirname(path).split('/');
  const parts = target.split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (at.length === 0) throw corrupt(`symlink ${path} -> ${target}: leaves the tree`);
      at.pop();
      continue;
    }
    at.push(part);
    const rest = parts.slice(i + 1).some((p) => p !== '' && p !== '.');
    if (rest && types.get(at.join('/')) === 'symlink') {
      throw corrupt(`symlink ${path} -> ${target}: passes through another symlink`);
    }
  }
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function entry(raw: unknown, at: string): Entry {
  const type = (raw as { type?: unknown } | null)?.type;
  if (type === 'dir') {
    const e = object(raw, at, ['path', 'type', 'mode']);
    return {
      path: str(e['path'], `${at}.path`),
      type,
      mode: match(e['mode'], MODE, `${at}.mode`, 'like "0755"'),
    };
  }
  if (type === 'file') {
    const e = object(raw, at, ['path', 'type', 'mode', 'size', 'sha256']);
    return {
      path: str(e['path'], `${at}.path`),
      type,
      mode: match(e['mode'], MODE, `${at}.mode`, 'like "0644"'),
      size: size(e['size'], `${at}.size`),
      sha256: match(e['sha256'], SHA256, `${at}.sha256`, '64 hex digits'),
    };
  }
  if (type === 'symlink') {
    const e = object(raw, at, ['path', 'type', 'target']);
    return { path: str(e['path'], `${at}.path`), type, target: str(e['target'], `${at}.target`) };
  }
  throw bad(`${at}.type`, 'must be "dir", "file" or "symlink"');
}

function object(raw: unknown, at: string, keys: string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(at, 'must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${at}.${k}`, 'unknown key');
  for (const k of keys) if (!(k in o)) throw bad(`${at}.${k}`, 'missing');
  return o;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw bad(at, 'must be a string');
  return v;
}

function match(v: unknown, re: RegExp, at: string, what: string): string {
  const s = str(v, at);
  if (!re.test(s)) throw bad(at, `must be ${what}`);
  return s;
}

function size(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(at, 'must be a byte count');
  return v;
}

function semver(v: unknown, at: string): string {
  const s = str(v, at);
  if (!isSemVer(s)) throw bad(at, `${JSON.stringify(s)} is not a semantic version`);
  return s;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], at: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw bad(at, `must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function bad(at: string, what: string): Error {
  return corrupt(`the manifest is not valid: ${at} ${what}`);
}
