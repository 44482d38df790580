/**
 * Keys and signing: keygen's files and modes, no overwrite, key ids; what `sign` refuses (trees a
 * gateway would refuse, bad arguments, over the cap) without leaving a partial file; the same tree
 * signed twice is the same bundle.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  FirmwareErrorCode,
  compareSemVer,
  generateKeys,
  keyIdOf,
  loadPrivateKey,
  loadPublicKeys,
  signBundle,
} from '../../firmware/index.js';
import { firmwareError, keyPair, sampleTree, scratch } from './fixture.js';

test('keygen: private key 0600, public key, the same id from either; never overwrites', async (t) => {
  const dir = join(scratch(t), 'keys');
  const k = generateKeys(dir);
  t.regex(k.keyId, /^[0-9a-f]{16}$/);
  t.is(statSync(k.privateKeyFile).mode & 0o777, 0o600);
  t.is(statSync(k.publicKeyFile).mode & 0o777, 0o644);
  t.is(loadPrivateKey(k.privateKeyFile).keyId, k.keyId);
  const pem = readFileSync(k.publicKeyFile, 'utf8');
  t.is(loadPublicKeys([pem])[0]!.keyId, k.keyId, 'a PEM string pins too');
  t.is(keyIdOf(loadPublicKeys([k.publicKeyFile])[0]!.key), k.keyId);
  const before = readFileSync(k.privateKeyFile);
  t.is((await firmwareError(t, async () => generateKeys(dir))).code, FirmwareErrorCode.KEY_EXISTS);
  t.deepEqual(readFileSync(k.privateKeyFile), before, 'the old key is kept');
  t.not(generateKeys(join(dir, 'second')).keyId, k.keyId);
});

test('keys: a private key pinned, a non-Ed25519 key, a missing file are refused', async (t) => {
  const dir = scratch(t);
  const k = generateKeys(join(dir, 'keys'));
  t.is(
    (await firmwareError(t, async () => loadPublicKeys([k.privateKeyFile]))).code,
    FirmwareErrorCode.BAD_KEY,
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  writeFileSync(join(dir, 'rsa.pub'), rsa.publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'rsa.key'), rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const pub = await firmwareError(t, async () => loadPublicKeys([join(dir, 'rsa.pub')]));
  t.is(pub.code, FirmwareErrorCode.BAD_KEY);
  t.regex(pub.message, /rsa key, not Ed25519/);
  t.is(
    (await firmwareError(t, async () => loadPrivateKey(join(dir, 'rsa.key')))).code,
    FirmwareErrorCode.BAD_KEY,
  );
  t.is(
    (await firmwareError(t, async () => loadPrivateKey(join(dir, 'nope.key')))).code,
    FirmwareErrorCode.BAD_KEY,
  );
  t.is(
    (
      await firmwareError(t, async () =>
        loadPublicKeys(['-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n']),
      )
    ).code,
    FirmwareErrorCode.BAD_KEY,
  );
});

test('sign: the same tree at the same time signs to the same bytes', async (t) => {
  const dir = scratch(t);
  const { signing } = keyPair(join(dir, 'keys'));
  const tree = sampleTree(join(dir, 'tree'));
  const createdAt = new Date('2026-12-01T00:00:00Z');
  const o = {
    tree,
    key: signing,
    program: 'owl-agent',
    version: '1.0.0',
    arch: 'arm64',
    level: 3,
    createdAt,
  };
  await signBundle({ ...o, out: join(dir, 'a') });
  await signBundle({ ...o, out: join(dir, 'b') });
  t.deepEqual(readFileSync(join(dir, 'a')), readFileSync(join(dir, 'b')));
});

test('sign refuses a tree with a fifo or an escaping symlink, bad arguments, a bundle over the cap; no file is left', async (t) => {
  const dir = scratch(t);
  const { signing } = keyPair(join(dir, 'keys'));
  const base = { key: signing, program: 'owl-relay', version: '2.0.0', arch: 'amd64', level: 3 };
  const out = join(dir, 'out');
  mkdirSync(out);
  const refuse = async (
    what: string,
    code: FirmwareErrorCode,
    o: Partial<Parameters<typeof signBundle>[0]>,
    tree: string,
  ): Promise<void> => {
    const err = await firmwareError(t, () => signBundle({ ...base, tree, out: join(out, 'b.owlfw'), ...o }));
    t.is(err.code, code, `${what}: ${err.message}`);
    t.deepEqual(readdirSync(out), [], `${what}: nothing left in the output dir`);
  };
  const fifo = sampleTree(join(dir, 'fifo-tree'));
  execFileSync('mkfifo', [join(fifo, 'lib/pipe')]);
  await refuse('fifo', FirmwareErrorCode.BAD_TREE, {}, fifo);
  const escaping = sampleTree(join(dir, 'link-tree'));
  symlinkSync('../../etc/passwd', join(escaping, 'lib/passwd'));
  await refuse('escaping symlink', FirmwareErrorCode.BAD_TREE, {}, escaping);
  const tree = sampleTree(join(dir, 'tree'));
  await refuse('missing tree', FirmwareErrorCode.BAD_TREE, {}, join(dir, 'none'));
  await refuse('program', FirmwareErrorCode.BAD_ARGUMENT, { program: 'owl-proxy' }, tree);
  await refuse('arch', FirmwareErrorCode.BAD_ARGUMENT, { arch: 'x86_64' }, tree);
  await refuse('version', FirmwareErrorCode.BAD_ARGUMENT, { version: 'v2' }, tree);
  await refuse('min version above', FirmwareErrorCode.BAD_ARGUMENT, { minVersion: '3.0.0' }, tree);
  await refuse('cap', FirmwareErrorCode.TOO_LARGE, { maxBytes: 10_000 }, tree);
  t.false(existsSync(join(out, 'b.owlfw')));
});

test('semantic versions order as semver.org says', (t) => {
  const ordered = [
    '0.0.0',
    '0.9.9',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.2.0',
    '1.10.0',
    '2.0.0',
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      t.is(compareSemVer(ordered[i]!, ordered[j]!), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  t.is(compareSemVer('1.2.0+git.a', '1.2.0+git.b'), 0, 'build metadata does not order');
  t.throws(() => compareSemVer('1.2', '1.2.0'));
});
