/**
 * Bundles end to end on real files: a package tree signed, verified and unpacked identical (modes
 * and links kept), and every refusal with its code, in verification order. After each refusal the
 * staging directory does not exist and nothing else in the test's directory changed.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FirmwareErrorCode,
  encodeBundle,
  readManifest,
  verifyBundle,
  type Entry,
  type FirmwareErrorCode as Code,
  type VerifyOptions,
} from '../../firmware/index.js';
import {
  firmwareError,
  keyPair,
  sampleTree,
  scratch,
  signSample,
  snapshot,
  type KeyPair,
} from './fixture.js';

interface Setup {
  dir: string;
  keys: KeyPair;
  bundle: Buffer;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const dir = scratch(t);
  const keys = keyPair(join(dir, 'keys'));
  const tree = sampleTree(join(dir, 'tree'));
  const file = await signSample(tree, join(dir, 'signed.owlfw'), keys.signing);
  return { dir, keys, bundle: readFileSync(file) };
}

let cases = 0;

/** Verifies `bytes` as a fresh file; asserts the code, no staging dir, nothing else changed. */
async function refused(
  t: ExecutionContext,
  s: Setup,
  bytes: Buffer,
  code: Code,
  what: string,
  options: Partial<VerifyOptions> = {},
): Promise<string> {
  const caseDir = join(s.dir, `case-${++cases}`);
  mkdirSync(caseDir);
  const file = join(caseDir, 'bundle.owlfw');
  writeFileSync(file, bytes);
  const staging = join(caseDir, 'staging');
  const before = snapshot(s.dir);
  const err = await firmwareError(t, () =>
    verifyBundle(file, {
      keys: s.keys.pinned,
      staging,
      program: 'owl-relay',
      arch: 'amd64',
      running: '1.5.0',
      sync: false,
      ...options,
    }),
  );
  t.is(err.code, code, `${what}: ${err.message}`);
  t.false(existsSync(staging), `${what}: the staging dir is removed`);
  t.deepEqual(snapshot(s.dir), before, `${what}: nothing else written`);
  return err.message;
}

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x40;
  return c;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const manifestLength = (b: Buffer): number => b.readUInt32BE(12);

test('round trip: the staged tree is the signed one, modes and symlinks kept; inspect needs no key', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'signed.owlfw');
  const staging = join(s.dir, 'staging');
  const m = await verifyBundle(file, {
    keys: s.keys.pinned,
    staging,
    program: 'owl-relay',
    arch: 'amd64',
    running: '1.0.0',
  });
  t.deepEqual(snapshot(staging), snapshot(join(s.dir, 'tree')));
  t.true(
    snapshot(staging).includes(
      'bin/owl-relay 755 ' +
        snapshot(join(s.dir, 'tree'))
          .find((l) => l.startsWith('bin/owl-relay '))!
          .split(' ')[2],
    ),
  );
  t.true(snapshot(staging).includes('private/ 700'));
  t.like(m, {
    program: 'owl-relay',
    version: '2.0.0',
    arch: 'amd64',
    minVersion: '1.0.0',
    keyId: s.keys.signing.keyId,
  });
  const inspected = await readManifest(file);
  t.deepEqual(inspected.manifest, m);
  t.is(inspected.keyId, s.keys.signing.keyId);
});

test('signature, key: a flipped byte in the signature or manifest, an unknown key id, a key that did not sign it', async (t) => {
  const s = await setup(t);
  const ml = manifestLength(s.bundle);
  await refused(t, s, flip(s.bundle, 32 + ml + 10), FirmwareErrorCode.BAD_SIGNATURE, 'signature byte');
  await refused(t, s, flip(s.bundle, 32 + 5), FirmwareErrorCode.BAD_SIGNATURE, 'manifest first bytes');
  const pathAt = s.bundle.indexOf('lib/dist/cli.js', 32);
  await refused(t, s, flip(s.bundle, pathAt), FirmwareErrorCode.BAD_SIGNATURE, 'a path in the manifest');
  await refused(t, s, flip(s.bundle, 32 + ml - 1), FirmwareErrorCode.BAD_SIGNATURE, 'manifest last byte');
  await refused(t, s, flip(s.bundle, 17), FirmwareErrorCode.UNKNOWN_KEY, 'key id in the header');
  const other = keyPair(join(s.dir, 'other-keys'));
  const msg = await refused(t, s, s.bundle, FirmwareErrorCode.UNKNOWN_KEY, 'another key pinned', {
    keys: other.pinned,
  });
  t.regex(msg, new RegExp(`signed with key ${s.keys.signing.keyId}, which is not pinned`));
  await refused(t, s, s.bundle, FirmwareErrorCode.UNKNOWN_KEY, 'no key pinned', { keys: [] });
  // Signed by another private key under the pinned key's id: the signature is checked, not the id.
  const forged = encodeBundle(
    {
      program: 'owl-relay',
      version: '2.0.0',
      arch: 'amd64',
      minVersion: '1.0.0',
      createdAt: new Date().toISOString(),
      files: [],
    },
    Buffer.alloc(0),
    { keyId: s.keys.signing.keyId, key: other.signing.key },
  );
  await refused(t, s, forged, FirmwareErrorCode.BAD_SIGNATURE, 'wrong key');
  // Several pinned keys: the one named is used.
  await verifyBundle(join(s.dir, 'signed.owlfw'), {
    keys: [...other.pinned, ...s.keys.pinned],
    staging: join(s.dir, 'ok'),
    sync: false,
  });
  t.true(existsSync(join(s.dir, 'ok/bin/owl-relay')));
});

test('header and size: truncated at any part, bytes appended, bad magic or format, over the caps', async (t) => {
  const s = await setup(t);
  const ml = manifestLength(s.bundle);
  for (const at of [
    0,
    1,
    7,
    31,
    32,
    33,
    32 + ml - 1,
    32 + ml,
    32 + ml + 63,
    32 + ml + 64,
    32 + ml + 200,
    s.bundle.length - 1,
  ]) {
    await refused(t, s, s.bundle.subarray(0, at), FirmwareErrorCode.CORRUPT, `truncated at ${at}`);
  }
  await refused(
    t,
    s,
    Buffer.concat([s.bundle, Buffer.from([0])]),
    FirmwareErrorCode.CORRUPT,
    'one byte appended',
  );
  await refused(t, s, flip(s.bundle, 1), FirmwareErrorCode.CORRUPT, 'magic');
  await refused(t, s, flip(s.bundle, 9), FirmwareErrorCode.CORRUPT, 'format version');
  await refused(t, s, flip(s.bundle, 11), FirmwareErrorCode.CORRUPT, 'flags');
  await refused(t, s, flip(s.bundle, 30), FirmwareErrorCode.CORRUPT, 'payload length');
  await refused(t, s, Buffer.from('#!/bin/sh\nrm -rf /\n'), FirmwareErrorCode.CORRUPT, 'not a bundle');
  const msg = await refused(t, s, s.bundle, FirmwareErrorCode.TOO_LARGE, 'file cap', {
    maxBytes: s.bundle.length - 1,
  });
  t.regex(msg, /over the cap/);
  await refused(t, s, s.bundle, FirmwareErrorCode.TOO_LARGE, 'tree cap', { maxTreeBytes: 1000 });
});

test('policy: wrong program, wrong arch, below the minimum, a downgrade or the same version (unless allowed)', async (t) => {
  const s = await setup(t);
  await refused(t, s, s.bundle, FirmwareErrorCode.WRONG_PROGRAM, 'program', { program: 'owl-agent' });
  await refused(t, s, s.bundle, FirmwareErrorCode.WRONG_ARCH, 'arch', { arch: 'arm64' });
  const below = await refused(t, s, s.bundle, FirmwareErrorCode.BELOW_MINIMUM, 'minimum', {
    running: '0.9.9',
  });
  t.regex(below, /installs only over 1\.0\.0 or later; this host runs 0\.9\.9/);
  await refused(t, s, s.bundle, FirmwareErrorCode.BELOW_MINIMUM, 'pre-release of the minimum', {
    running: '1.0.0-rc.1',
  });
  await refused(t, s, s.bundle, FirmwareErrorCode.DOWNGRADE, 'newer running', { running: '2.0.1' });
  await refused(t, s, s.bundle, FirmwareErrorCode.DOWNGRADE, 'same version', { running: '2.0.0' });
  await refused(t, s, s.bundle, FirmwareErrorCode.BAD_ARGUMENT, 'bad running version', { running: 'v2' });
  const staging = join(s.dir, 'downgrade');
  await verifyBundle(join(s.dir, 'signed.owlfw'), {
    keys: s.keys.pinned,
    staging,
    running: '3.0.0',
    allowDowngrade: true,
    sync: false,
  });
  t.true(existsSync(join(staging, 'lib/dist/cli.js')), 'an explicit downgrade is allowed');
});

test('payload: a flipped byte in a file, a signed manifest whose hash a file does not match (after others were written)', async (t) => {
  const s = await setup(t);
  const payloadAt = 32 + manifestLength(s.bundle) + 64;
  for (const at of [
    payloadAt,
    payloadAt + 100,
    Math.floor((payloadAt + s.bundle.length) / 2),
    s.bundle.length - 1,
  ]) {
    await refused(t, s, flip(s.bundle, at), FirmwareErrorCode.CORRUPT, `payload byte ${at}`);
  }
  const meta = {
    program: 'owl-relay' as const,
    version: '2.0.0',
    arch: 'amd64' as const,
    minVersion: '1.0.0',
    createdAt: new Date().toISOString(),
  };
  const files: Entry[] = [
    { path: 'd', type: 'dir', mode: '0755' },
    { path: 'd/a', type: 'file', mode: '0644', size: 3, sha256: sha256('aaa') },
    { path: 'd/b', type: 'file', mode: '0644', size: 3, sha256: sha256('bbb') },
  ];
  const msg = await refused(
    t,
    s,
    encodeBundle({ ...meta, files }, Buffer.from('aaabbX'), s.keys.signing),
    FirmwareErrorCode.CORRUPT,
    'file hash',
  );
  t.regex(msg, /^d\/b: its content does not match/);
  await refused(
    t,
    s,
    encodeBundle({ ...meta, files }, Buffer.from('aaabbbc'), s.keys.signing),
    FirmwareErrorCode.CORRUPT,
    'more data than listed',
  );
  await refused(
    t,
    s,
    encodeBundle({ ...meta, files }, Buffer.from('aaabb'), s.keys.signing),
    FirmwareErrorCode.CORRUPT,
    'less data than listed',
  );
});

test('crafted trees signed with the real key: .., absolute paths, escaping or chained symlinks, unlisted parents, duplicates', async (t) => {
  const s = await setup(t);
  const meta = {
    program: 'owl-relay' as const,
    version: '2.0.0',
    arch: 'amd64' as const,
    minVersion: '1.0.0',
    createdAt: new Date().toISOString(),
  };
  const file = (path: string, mode = '0644'): Entry => ({
    path,
    type: 'file',
    mode,
    size: 1,
    sha256: sha256('x'),
  });
  const dir = (path: string): Entry => ({ path, type: 'dir', mode: '0755' });
  const link = (path: string, target: string): Entry => ({ path, type: 'symlink', target });
  const crafted: [string, Entry[], RegExp][] = [
    ['.. path', [file('../escaped')], /bad path \.\.\/escaped: empty, \. or \.\. part/],
    ['.. inside a path', [dir('a'), file('a/../../escaped2')], /bad path a\/\.\.\/\.\.\/escaped2/],
    ['absolute path', [file(join(s.dir, 'absolute'))], /absolute$/],
    ['empty part', [dir('a'), file('a//x')], /bad path a\/\/x/],
    ['. part', [dir('a'), file('a/./x')], /bad path a\/\.\/x/],
    [
      'symlink leaving the tree',
      [link('out', '../../outside')],
      /symlink out -> \.\.\/\.\.\/outside: leaves the tree/,
    ],
    [
      'symlink leaving from a subdir',
      [dir('a'), link('a/out', '../..')],
      /symlink a\/out -> \.\.\/\.\.: leaves the tree/,
    ],
    ['absolute symlink', [link('etc', '/etc')], /absolute target/],
    [
      'symlink through a symlink',
      [dir('sub'), link('sub/up', '..'), link('x', 'sub/up/../y')],
      /passes through another symlink/,
    ],
    [
      'file under a symlink',
      [link('l', '.'), file('l/x')],
      /l\/x: its parent l is not a directory listed before it/,
    ],
    [
      'parent not listed first',
      [file('a/x'), dir('a')],
      /a\/x: its parent a is not a directory listed before it/,
    ],
    ['duplicate', [file('x'), file('x')], /x: listed twice/],
  ];
  for (const [what, files, why] of crafted) {
    const bundle = encodeBundle(
      { ...meta, files },
      Buffer.from('x'.repeat(files.filter((f) => f.type === 'file').length)),
      s.keys.signing,
    );
    t.regex(await refused(t, s, bundle, FirmwareErrorCode.CORRUPT, what), why, what);
  }
  t.false(existsSync(join(s.dir, 'escaped')));
  t.false(existsSync(join(s.dir, 'absolute')));
  // A manifest with an unknown key or a setuid mode is refused too.
  await refused(
    t,
    s,
    encodeBundle({ ...meta, files: [file('x', '4755')] }, Buffer.from('x'), s.keys.signing),
    FirmwareErrorCode.CORRUPT,
    'setuid',
  );
  const extra = { ...meta, files: [], extra: 1 } as unknown as Parameters<typeof encodeBundle>[0];
  await refused(
    t,
    s,
    encodeBundle(extra, Buffer.alloc(0), s.keys.signing),
    FirmwareErrorCode.CORRUPT,
    'unknown key',
  );
});

test('the staging dir must be new: an existing one is refused and left as it was; its parent must exist', async (t) => {
  const s = await setup(t);
  const staging = join(s.dir, 'existing');
  mkdirSync(staging);
  writeFileSync(join(staging, 'keep'), 'mine');
  const err = await firmwareError(t, () =>
    verifyBundle(join(s.dir, 'signed.owlfw'), { keys: s.keys.pinned, staging }),
  );
  t.is(err.code, FirmwareErrorCode.STAGING_EXISTS);
  t.is(readFileSync(join(staging, 'keep'), 'utf8'), 'mine');
  const noParent = await firmwareError(t, () =>
    verifyBundle(join(s.dir, 'signed.owlfw'), { keys: s.keys.pinned, staging: join(s.dir, 'none/staging') }),
  );
  t.is(noParent.code, FirmwareErrorCode.IO, 'a missing parent is an I/O failure, retriable');
  t.true(noParent.retriable);
});
