/**
 * Throwaway PKI for TLS tests, made with openssl in a temp dir at test time (never committed):
 * a CA, a server certificate for 127.0.0.1/localhost, and client certificates (mTLS) on demand.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  /** Directory holding the files (the CA key too, for makeClientCert). */
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A certificate and its key, as files and as PEM. */
export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

function ssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A P-256 key and CSR for `subject`, signed by the CA in `dir` with the extensions `ext`. */
function issue(dir: string, name: string, subject: string, ext: string): TestCert {
  ssl(
    dir,
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    subject,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  );
  writeFileSync(join(dir, `${name}.cnf`), ext);
  ssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    `${name}.cnf`,
    '-out',
    `${name}.pem`,
  );
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** A CA (`/CN=<caName>`) and a server certificate for 127.0.0.1 and localhost, in `dir`. */
export function makeTestPki(dir: string, caName = 'owl-test-ca'): TestPki {
  ssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${caName}`,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  const server = issue(dir, 'server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const caFile = join(dir, 'ca.pem');
  return {
    dir,
    caFile,
    caKeyFile: join(dir, 'ca.key'),
    certFile: server.certFile,
    keyFile: server.keyFile,
    ca: readFileSync(caFile),
    cert: server.cert,
    key: server.key,
  };
}

/**
 * A client certificate (extendedKeyUsage clientAuth) signed by `pki`'s CA, with subject
 * `/CN=<cn>` and, when given, SAN DNS names `dns`. Files are `<name>.pem` / `<name>.key`.
 */
export function makeClientCert(
  pki: TestPki,
  name: string,
  options: { cn: string; dns?: readonly string[] },
): TestCert {
  const san =
    options.dns === undefined ? '' : `subjectAltName=${options.dns.map((d) => `DNS:${d}`).join(',')}\n`;
  return issue(pki.dir, name, `/CN=${options.cn}`, `extendedKeyUsage=clientAuth\n${san}`);
}
