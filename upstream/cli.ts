#!/usr/bin/env node
/**
 * `owl-upstream run | local | relay add|list|revoke | host list|add|move|delete | query`.
 * Operator commands talk to the running server's API, with the token from
 * `<stateDir>/api-token` (or --token). With `tls` in the upstream config the
 * API is HTTPS: --ca names the CA that signed its certificate (without it,
 * the system's CAs and NODE_EXTRA_CA_CERTS are trusted); the certificate is
 * always verified. --config reads the address, state dir, token and whether
 * TLS is on from the config file the server runs with.
 */
import { readFileSync, mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Command } from 'commander';
import { parseHostPort as hostPort, Relay, resolveRelayConfig } from '../relay/index.js';
import { RocksError } from '../rocks/index.js';
import {
  defaultUpstreamConfig,
  loadUpstreamConfig,
  upstreamPaths,
  type UpstreamConfig,
  type UpstreamConfigInput,
} from './config.js';
import { Upstream } from './server.js';

interface ApiFlags {
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

async function call(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  const { url, token, ca } = resolveTarget(flags);
  return new Promise((resolve, reject) => {
    const options = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      method,
      path: url.pathname.replace(/\/$/, '') + path,
      headers: { authorization: `Bearer ${token}` },
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
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + '\n');
const fail = (err: unknown): void => {
  process.stderr.write(`owl-upstream: ${(err as Error).message}\n`);
  process.exitCode = 1;
};

/**
 * A start refused over a state dir (another upstream or relay holds it, OWL_ERR_STATE_LOCKED; or
 * it cannot be locked): its one-line message and exit code 1, no stack trace. Anything else is rethrown.
 */
function refusedStart(err: unknown): never {
  if (!(err instanceof RocksError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

const program = new Command('owl-upstream').description('OWL upstream: the central server');
const apiOptions = (c: Command): Command =>
  c
    .option('-c, --config <file>', "the server's JSON config: its API address, state dir, token and TLS")
    .option('--state-dir <dir>', 'state directory of the server (default /var/lib/owl-upstream)')
    .option('--api <address>', 'API address, host:port or http(s)://host:port (default 127.0.0.1:7090)')
    .option('--token <token>', 'API token (default: read from the state dir)')
    .option('--tls', "the API is HTTPS (the upstream config has tls); trusts the system's CAs")
    .option('--ca <file>', "PEM CA that signed the API's certificate, trusted instead (implies --tls)");

program
  .command('run')
  .description('run the upstream server')
  .option('-c, --config <file>', 'JSON config file')
  .option('--state-dir <dir>', 'state directory (default /var/lib/owl-upstream)')
  .option('--uplink <host:port>', 'relay WebSocket listener', hostPort)
  .option('--agents <host:port>', 'direct agent listener', hostPort)
  .option('--api <host:port>', 'operator API listener', hostPort)
  .option('--log-level <level>', 'pino log level')
  .action(
    async (flags: {
      config?: string;
      stateDir?: string;
      uplink?: { host: string; port: number };
      agents?: { host: string; port: number };
      api?: { host: string; port: number };
      logLevel?: UpstreamConfigInput['logLevel'];
    }) => {
      const o: UpstreamConfigInput = {};
      if (flags.stateDir !== undefined) o.stateDir = flags.stateDir;
      if (flags.uplink !== undefined) o.uplink = flags.uplink;
      if (flags.agents !== undefined) o.agents = [flags.agents];
      if (flags.api !== undefined) o.api = flags.api;
      if (flags.logLevel !== undefined) o.logLevel = flags.logLevel;
      const up = await Upstream.start(loadUpstreamConfig(flags.config, o)).catch(refusedStart);
      onSignals(() => up.stop());
    },
  );

program
  .command('local')
  .description('run an upstream and one relay on this machine, on embedded defaults (state in ./.owl)')
  .option('--state-dir <dir>', 'where both keep their state', '.owl')
  .option('--agent-port <port>', 'port agents connect to (the relay)', '7070')
  .action(async (flags: { stateDir: string; agentPort: string }) => {
    mkdirSync(flags.stateDir, { recursive: true });
    const up = await Upstream.start(
      loadUpstreamConfig(undefined, {
        stateDir: join(flags.stateDir, 'upstream'),
        uplink: { host: '127.0.0.1', port: 7080 },
        agents: [{ host: '127.0.0.1', port: 7071 }],
      }),
    ).catch(refusedStart);
    const tokenFile = join(flags.stateDir, 'relay-token');
    let token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
    if (token === '' || up.relays.get('local') === undefined) {
      token = await up.relays.add('local', Date.now());
      writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    }
    const relay = await Relay.start(
      resolveRelayConfig({
        relayId: 'local',
        token,
        upstreams: [up.uplinkUrl],
        stateDir: join(flags.stateDir, 'relay'),
        listen: [{ host: '127.0.0.1', port: Number(flags.agentPort) }],
      }),
    ).catch(async (err: unknown) => {
      await up.stop();
      return refusedStart(err);
    });
    up.log.info(
      { agents: `127.0.0.1:${flags.agentPort}`, api: `127.0.0.1:${up.apiAddress.port}` },
      'OWL is running: point agents at the relay; the API token is in ' +
        join(flags.stateDir, 'upstream', 'api-token'),
    );
    onSignals(async () => {
      await relay.stop();
      await up.stop();
    });
  });

const relayCmd = program.command('relay').description('manage relays');
apiOptions(relayCmd.command('add <name>').description('add a relay; prints its token once')).action(
  (name: string, flags: ApiFlags) => call(flags, 'POST', '/api/v1/relays', { id: name }).then(print, fail),
);
apiOptions(relayCmd.command('list').description('relays with live status')).action((flags: ApiFlags) =>
  call(flags, 'GET', '/api/v1/relays').then(print, fail),
);
apiOptions(relayCmd.command('revoke <name>').description('revoke a relay')).action(
  (name: string, flags: ApiFlags) =>
    call(flags, 'DELETE', `/api/v1/relays/${encodeURIComponent(name)}`).then(print, fail),
);
const hostCmd = program.command('host').description('manage hosts');
const hostPath = (uuid: string): string => `/api/v1/hosts/${encodeURIComponent(uuid)}`;
apiOptions(hostCmd.command('list').description('registered hosts')).action((flags: ApiFlags) =>
  call(flags, 'GET', '/api/v1/hosts').then(print, fail),
);
apiOptions(
  hostCmd
    .command('add <uuid>')
    .description('register a host before its agent reports (needed when autoRegister is off)')
    .option('--zone <zone>', 'relay id that serves it (default: direct)')
    .option('--hostname <name>', 'hostname until the agent reports its own'),
).action((uuid: string, flags: ApiFlags & { zone?: string; hostname?: string }) =>
  call(flags, 'POST', '/api/v1/hosts', {
    uuid,
    ...(flags.zone === undefined ? {} : { zone: flags.zone }),
    ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
  }).then(print, fail),
);
apiOptions(
  hostCmd.command('move <uuid> <zone>').description('serve a host from another zone (relay id, or direct)'),
).action((uuid: string, zone: string, flags: ApiFlags) =>
  call(flags, 'PUT', `${hostPath(uuid)}/zone`, { zone }).then(print, fail),
);
apiOptions(
  hostCmd.command('delete <uuid>').description('forget a host, its ports and asset (its series stay)'),
).action((uuid: string, flags: ApiFlags) => call(flags, 'DELETE', hostPath(uuid)).then(print, fail));
apiOptions(
  program
    .command('query <metric>')
    .description('points of a metric')
    .option('--since <duration>', 'e.g. 1h, 30m, 2d', '1h'),
).action((metric: string, flags: ApiFlags & { since: string }) =>
  call(
    flags,
    'GET',
    `/api/v1/query?metric=${encodeURIComponent(metric)}&since=${encodeURIComponent(flags.since)}`,
  ).then(print, fail),
);

await program.parseAsync(process.argv);
