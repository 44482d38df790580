/**
 * Ed25519 keys (node:crypto): keygen, the key id, loading a private key to sign with and the
 * public keys a relay or agent pins. Keys are PEM (PKCS#8 private, SPKI public) files, so
 * `openssl pkey` reads them too. The key id is the first 16 hex digits of the sha256 of the
 * 32-byte raw public key: stable, short enough to read out, and in every bundle's header.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from './errors.js';

export interface PinnedKey {
  keyId: string;
  key: KeyObject;
}

export const PRIVATE_KEY_FILE = 'firmware-signing.key';
export const PUBLIC_KEY_FILE = 'firmware-signing.pub';

/** The id of an Ed25519 public (or private) key. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || jwk.x === undefined) {
    throw new FirmwareError(FirmwareErrorCode.BAD_KEY, 'not an Ed25519 key');
  }
  return createHash('sha256').update(Buffer.from(jwk.x, 'base64url')).digest('hex').slice(0, 16);
}

/**
 * A new key pair in `dir` (created if missing): the private key with mode 0600, the public key
 * 0644. Refuses to overwrite either file: a lost signing key cannot be replaced by accident.
 */
export function generateKeys(dir: string): { keyId: string; privateKeyFile: string; publicKeyFile: string } {
  const privateKeyFile = join(dir, PRIVATE_KEY_FILE);
  const publicKeyFile = join(dir, PUBLIC_KEY_FILE);
  for (const f of [privateKeyFile, publicKeyFile]) {
    if (existsSync(f))
      throw new FirmwareError(FirmwareErrorCode.KEY_EXISTS, `${f} exists already; it is never overwritten`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeNew(privateKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  try {
    writeNew(publicKeyFile, publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
  } catch (err) {
    unlinkSync(privateKeyFile);
    throw err;
  }
  return { keyId: keyIdOf(publicKey), privateKeyFile, publicKeyFile };
}

/** `wx`: fails if the file appeared meanwhile; the mode is set at creation, never wider. */
function writeNew(file: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new FirmwareError(
        FirmwareErrorCode.KEY_EXISTS,
        `${file} exists already; it is never overwritten`,
      );
    throw new FirmwareError(FirmwareErrorCode.IO, `cannot write ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** The Ed25519 private key in a PEM file, to sign with. */
export function loadPrivateKey(file: string): PinnedKey {
  const pem = readKeyFile(file);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new FirmwareError(FirmwareErrorCode.BAD_KEY, `${file} is not a PEM private key`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new FirmwareError(
      FirmwareErrorCode.BAD_KEY,
      `${file} is a ${key.asymmetricKeyType} key, not Ed25519`,
    );
  }
  return { keyId: keyIdOf(key), key };
}

/**
 * The pinned public keys: each a PEM text (starting with `-----BEGIN`) or the path of a PEM file.
 * A private key is refused: a gateway must never hold one.
 */
export function loadPublicKeys(keys: readonly string[]): PinnedKey[] {
  return keys.map((k) => {
    const what = k.startsWith('-----BEGIN') ? 'a pinned key' : k;
    const pem = k.startsWith('-----BEGIN') ? k : readKeyFile(k);
    if (/PRIVATE KEY/.test(pem)) {
      throw new FirmwareError(FirmwareErrorCode.BAD_KEY, `${what} is a private key; pin the public key`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new FirmwareError(FirmwareErrorCode.BAD_KEY, `${what} is not a PEM public key`, { cause: err });
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new FirmwareError(
        FirmwareErrorCode.BAD_KEY,
        `${what} is a ${key.asymmetricKeyType} key, not Ed25519`,
      );
    }
    return { keyId: keyIdOf(key), key };
  });
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FirmwareError(
      FirmwareErrorCode.BAD_KEY,
      `cannot read key file ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
