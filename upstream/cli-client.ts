/**
 * How the operator commands reach a running upstream: its API's URL, token
 * and CA (from flags, the server's config or its state dir), and transport
 * failures said in operator terms. With `tls` in the upstream config the API
 * is HTTPS and the certificate is always verified.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Command } from 'commander';
import { parseHostPort as hostPort } from '../relay/index.js';
import { defaultUpstreamConfig, loadUpstreamConfig, upstreamPaths, type UpstreamConfig } from './config.js';

export interface ApiFlags {
  config?: string;
  stateDir?: string;
  api?: string;
  token?: string;
  tls?: boolean;
  ca?: string;
}

/** Where and how to reach the API. */
interface ApiTarget {
  url: URL;
  token: string;
  /** PEM of the CA(s) given with --ca, trusted instead of the system's. */
  ca: Buffer | undefined;
}

/** OpenSSL's verdicts on a certificate chain the client does not trust. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** A listen address as a client reaches it (a wildcard means this machine). */
function dialHost(host: string): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

/** The API's URL: --api as a URL or host:port, else the config's listener; https with --tls, --ca or a config with `tls`. */
function apiUrl(flags: ApiFlags, config: UpstreamConfig | undefined): URL {
  if (flags.api?.includes('://') === true) {
    let url: URL;
    try {
      url = new URL(flags.api);
    } catch {
      throw new Error(`--api ${flags.api}: not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`--api ${flags.api}: expected http:// or https://`);
    if (url.protocol === 'http:' && (flags.tls === true || flags.ca !== undefined))
      throw new Error(`--api ${flags.api} is plain HTTP: --tls and --ca need https://`);
    return url;
  }
  const { host, port } =
    flags.api !== undefined
      ? withFlag('--api', flags.api, hostPort)
      : (config?.api ?? defaultUpstreamConfig().api);
  const tls = flags.tls === true || flags.ca !== undefined || config?.tls !== undefined;
  return new URL(`${tls ? 'https' : 'http'}://${dialHost(host)}:${port}`);
}

/** `parse(value)`, its error naming the flag. */
function withFlag<T>(flag: string, value: string, parse: (value: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw new Error(`${flag} ${value}: ${(err as Error).message}`);
  }
}

function resolveTarget(flags: ApiFlags): ApiTarget {
  const config =
    flags.config === undefined ? undefined : withFlag('--config', flags.config, (f) => loadUpstreamConfig(f));
  const url = apiUrl(flags, config);
  let token = flags.token ?? config?.apiToken;
  if (token === undefined) {
    const stateDir = flags.stateDir ?? config?.stateDir ?? defaultUpstreamConfig().stateDir;
    const file = upstreamPaths({ stateDir } as UpstreamConfig).apiToken;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(
        `cannot read the API token from ${file} (${(err as Error).message}): ` +
          'pass --token, or --state-dir / --config of the server',
      );
    }
  }
  const ca = flags.ca === undefined ? undefined : withFlag('--ca', flags.ca, (f) => readFileSync(f));
  return { url, token, ca };
}

/** A transport failure said in operator terms: what to change when TLS is the cause. */
function explain(err: Error & { code?: string }, url: URL): Error {
  const where = url.origin;
  const code = err.code ?? '';
  // OpenSSL's messages span lines; one line reads better after `owl-upstream: `.
  const message = err.message.replace(/\s+/g, ' ').trim();
  if (url.protocol === 'https:' && UNTRUSTED.has(code))
    return new Error(
      `TLS: the certificate of ${where} is not trusted (${code}: ${message}); ` +
        'pass --ca <file> with the CA that signed it',
    );
  if (url.protocol === 'https:' && code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return new Error(
      `TLS: the certificate of ${where} does not name ${url.hostname} (${message}); ` +
        'use --api with a host name or address the certificate carries',
    );
  if (url.protocol === 'https:' && code === 'EPROTO')
    return new Error(
      `TLS handshake with ${where} failed (${message}): is its API plain HTTP? ` +
        '(without tls in the upstream config it is; drop --tls / --ca)',
    );
  if (url.protocol === 'http:' && (code === 'ECONNRESET' || code === 'EPIPE'))
    return new Error(
      `${where} closed the connection without answering (${message}): ` +
        'if the upstream config has tls, its API is HTTPS; pass --ca <file> (or --tls, or --config)',
    );
  return new Error(`cannot reach the API at ${where}: ${message}`);
}

export async function call(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  return send(flags, method, path, {}, (req) =>
    req.end(body === undefined ? undefined : JSON.stringify(body)),
  );
}

/** `method path` with the bytes of `file` as the body, streamed (a firmware bundle can be hundreds of MB). */
export async function upload(flags: ApiFlags, method: string, path: string, file: string): Promise<unknown> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
  return send(flags, method, path, headers, (req) => {
    const stream = createReadStream(file);
    stream.on('error', (err) => req.destroy(err));
    stream.pipe(req);
  });
}

/** One API request: `write` sends its body (and ends it); resolves with the JSON answer. */
function send(
  flags: ApiFlags,
  method: string,
  path: string,
  headers: Record<string, string>,
  write: (req: ClientRequest) => void,
): Promise<unknown> {
  const { url, token, ca } = resolveTarget(flags);
  return new Promise((resolve, reject) => {
    const options = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      method,
      path: url.pathname.replace(/\/$/, '') + path,
      headers: { ...headers, authorization: `Bearer ${token}` },
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(explain(err, url)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text || 'null') as unknown;
        } catch {
          reject(new Error(`${res.statusCode}: not JSON from ${url.origin}: ${text.slice(0, 200)}`));
          return;
        }
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`${res.statusCode}: ${JSON.stringify(parsed)}`));
        else resolve(parsed);
      });
    };
    // Certificates are always verified (rejectUnauthorized stays at its default, true).
    const req: ClientRequest =
      url.protocol === 'https:'
        ? httpsRequest({ ...options, ...(ca === undefined ? {} : { ca }) }, onResponse)
        : httpRequest(options, onResponse);
    req.on('error', (err) => reject(explain(err, url)));
    write(req);
  });
}

export const print = (value: unknown): void =>
  void process.stdout.write(JSON.stringify(value, null, 2) + '\n');
export const fail = (err: unknown): void => {
  process.stderr.write(`owl-upstream: ${(err as Error).message}\n`);
  process.exitCode = 1;
};

export const apiOptions = (c: Command): Command =>
  c
    .option('-c, --config <file>', "the server's JSON config: its API address, state dir, token and TLS")
    .option('--state-dir <dir>', 'state directory of the server (default /var/lib/owl-upstream)')
    .option('--api <address>', 'API address, host:port or http(s)://host:port (default 127.0.0.1:7090)')
    .option('--token <token>', 'API token (default: read from the state dir)')
    .option('--tls', "the API is HTTPS (the upstream config has tls); trusts the system's CAs")
    .option('--ca <file>', "PEM CA that signed the API's certificate, trusted instead (implies --tls)");
