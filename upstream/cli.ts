#!/usr/bin/env node
/**
 * `owl-upstream run | local | relay add|list|revoke | host list|add|move|delete | query`.
 * Operator commands talk to the running server's API, with the token from
 * `<stateDir>/api-token` (or --token).
 */
import { readFileSync, mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { Command } from 'commander';
import { parseHostPort as hostPort, Relay, resolveRelayConfig } from '../relay/index.js';
import { loadUpstreamConfig, upstreamPaths, type UpstreamConfigInput } from './config.js';
import { Upstream } from './server.js';

interface ApiFlags {
  stateDir: string;
  api: string;
  token?: string;
}

function call(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  const token =
    flags.token ?? readFileSync(upstreamPaths({ stateDir: flags.stateDir } as never).apiToken, 'utf8').trim();
  const { host, port } = hostPort(flags.api);
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, method, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString() || 'null') as unknown;
          if ((res.statusCode ?? 500) >= 400)
            reject(new Error(`${res.statusCode}: ${JSON.stringify(parsed)}`));
          else resolve(parsed);
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + '\n');
const fail = (err: unknown): void => {
  process.stderr.write(`owl-upstream: ${(err as Error).message}\n`);
  process.exitCode = 1;
};

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
    .option('--state-dir <dir>', 'state directory of the server', '/var/lib/owl-upstream')
    .option('--api <host:port>', 'API address', '127.0.0.1:7090')
    .option('--token <token>', 'API token (default: read from the state dir)');

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
      const up = await Upstream.start(loadUpstreamConfig(flags.config, o));
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
    );
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
    );
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
