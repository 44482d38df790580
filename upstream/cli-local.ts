/**
 * `owl-upstream local` (`npm start`): an upstream, one relay and one owl-agent on this machine, on
 * embedded defaults. Prints where everything is, then a live line (cli-local-line.ts). The
 * programs' logs go to stderr, at warn and above unless --log-level says otherwise, so the line
 * stays readable. SIGINT or SIGTERM
 * stops the agent, the relay and the upstream, in that order, and exits 0.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { Relay, resolveRelayConfig } from '../relay/index.js';
import { LocalAgent } from './cli-local-agent.js';
import { formatLiveLine, LiveLine } from './cli-local-line.js';
import { onSignals, startFailed } from './cli-start.js';
import { defaultUpstreamConfig, loadUpstreamConfig, upstreamPaths, type UpstreamConfig } from './config.js';
import { Upstream } from './server.js';

interface LocalFlags {
  stateDir: string;
  agentPort: string;
  uplinkPort: string;
  directPort: string;
  apiPort: string;
  relayMetricsPort: string;
  metricsPort: string;
  agent: boolean;
  collectInterval: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

const LOOPBACK = '127.0.0.1';
/** How often the live line's figures are read (the store's stats fold pending points first). */
const LIVE_EVERY_MS = 2000;

export function localCommand(program: Command): void {
  program
    .command('local')
    .description(
      'run an upstream, one relay and one owl-agent on this machine (state in ./.owl); ' +
        'every listener on 127.0.0.1, a port of 0 picks a free one',
    )
    .option('--state-dir <dir>', 'where all three keep their state', '.owl')
    .option('--agent-port <port>', "the relay's agent listener", '7070')
    .option('--uplink-port <port>', "the upstream's relay (WebSocket) listener", '7080')
    .option('--direct-port <port>', "the upstream's listener for agents without a relay", '7071')
    .option('--api-port <port>', 'the operator API and the dashboard', '7090')
    .option('--relay-metrics-port <port>', "the relay's /metrics, /healthz, /readyz", '9464')
    .option('--metrics-port <port>', "the upstream's /metrics, /healthz, /readyz", '9465')
    .option('--no-agent', 'run no owl-agent (send your own samples to the relay)')
    .option('--collect-interval <s>', "seconds between the agent's collector rounds", '10')
    .option('--log-level <level>', 'log level of all three (debug, info, warn, error), on stderr', 'warn')
    .action((flags: LocalFlags) => runLocal(flags));
}

/** A flag's value as an integer in [0, max], else one line and exit code 2. */
function int(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max)
    usage(`${flag} ${value}: not an integer 0-${max}`);
  return n;
}

const port = (flag: string, value: string): number => int(flag, value, 65_535);

function usage(problem: string): never {
  process.stderr.write(`owl-upstream local: ${problem}\n`);
  process.exit(2);
}

const LEVELS = ['debug', 'info', 'warn', 'error'];

async function runLocal(flags: LocalFlags): Promise<void> {
  if (!LEVELS.includes(flags.logLevel)) usage(`--log-level ${flags.logLevel}: one of ${LEVELS.join(', ')}`);
  const collectInterval = int('--collect-interval', flags.collectInterval, 86_400);
  mkdirSync(flags.stateDir, { recursive: true });
  // Logs on stderr (above the live line on a terminal), the addresses and the live line on stdout.
  const line = new LiveLine(process.stdout, process.stderr, Date.now);
  const logTo = { write: (text: string): void => line.interject(text) };
  const logger = (name: string): Logger => pino({ name, level: flags.logLevel }, logTo);
  const config = localUpstreamConfig(flags);
  const up = await Upstream.start(config, { logger: logger('owl-upstream') }).catch((err: unknown) =>
    startFailed(err, config),
  );
  const relay = await Relay.start(
    resolveRelayConfig({
      relayId: 'local',
      token: await relayToken(up, flags.stateDir),
      upstreams: [up.uplinkUrl],
      stateDir: join(flags.stateDir, 'relay'),
      listen: [{ host: LOOPBACK, port: port('--agent-port', flags.agentPort) }],
      metrics: { enabled: true, host: LOOPBACK, port: port('--relay-metrics-port', flags.relayMetricsPort) },
      logLevel: flags.logLevel,
    }),
    { logger: logger('owl-relay') },
  ).catch(async (err: unknown) => {
    await up.stop();
    return startFailed(err);
  });
  const agentAddress = relay.addresses[0] as AddressInfo;
  const agent = flags.agent
    ? LocalAgent.start({
        relay: `${LOOPBACK}:${agentAddress.port}`,
        stateDir: join(flags.stateDir, 'agent'),
        collectInterval,
        logLevel: flags.logLevel,
        log: (lines) => line.interject(lines),
      })
    : undefined;
  process.stdout.write(banner(flags, up, relay, agent));
  const live = startLiveLine(line, up, relay);
  onSignals(async () => {
    live.stop();
    await agent?.stop();
    await relay.stop();
    await up.stop();
    process.stdout.write('OWL stopped.\n');
  });
}

function localUpstreamConfig(flags: LocalFlags): UpstreamConfig {
  const input = {
    stateDir: join(flags.stateDir, 'upstream'),
    uplink: { host: LOOPBACK, port: port('--uplink-port', flags.uplinkPort) },
    agents: [{ host: LOOPBACK, port: port('--direct-port', flags.directPort) }],
    api: { host: LOOPBACK, port: port('--api-port', flags.apiPort) },
    metrics: { enabled: true, host: LOOPBACK, port: port('--metrics-port', flags.metricsPort) },
    logLevel: flags.logLevel,
  };
  try {
    return loadUpstreamConfig(undefined, input);
  } catch (err) {
    return startFailed(err);
  }
}

/** The relay's uplink token: kept in the state dir, made (again) when the upstream does not know it. */
async function relayToken(up: Upstream, stateDir: string): Promise<string> {
  const tokenFile = join(stateDir, 'relay-token');
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  if (token !== '' && up.relays.get('local') !== undefined) return token;
  const made = await up.relays.add('local', Date.now());
  writeFileSync(tokenFile, made + '\n', { mode: 0o600 });
  return made;
}

/** Where everything is, and the command that queries this host's figures. */
function banner(flags: LocalFlags, up: Upstream, relay: Relay, agent: LocalAgent | undefined): string {
  const api = `http://${LOOPBACK}:${up.apiAddress.port}`;
  const agents = relay.addresses[0] as AddressInfo;
  const direct = up.agentAddresses[0];
  const metrics = [
    relay.metricsAddress === undefined
      ? ''
      : `http://${LOOPBACK}:${relay.metricsAddress.port}/metrics (relay)`,
    up.metricsAddress === undefined ? '' : `http://${LOOPBACK}:${up.metricsAddress.port}/metrics (upstream)`,
  ].filter((m) => m !== '');
  const lines = [
    `OWL is running on this machine (state in ${flags.stateDir}); Ctrl-C stops it.`,
    `  dashboard   ${api}/  (log in with the API token)`,
    `  API         ${api}/api/v1/  (docs/api.md)`,
    `  API token   ${upstreamPaths(up.config).apiToken}`,
    `  agents      ${LOOPBACK}:${agents.port} (the relay "local")` +
      (direct === undefined ? '' : `; agents without a relay: ${LOOPBACK}:${direct.port}`),
    `  uplink      ${up.uplinkUrl}`,
    ...(metrics.length === 0 ? [] : [`  metrics     ${metrics.join(', ')}`]),
    agent === undefined
      ? '  owl-agent   not started (--no-agent)'
      : `  owl-agent   pid ${agent.pid}, this host's figures every ${flags.collectInterval} s (state in ${join(flags.stateDir, 'agent')})`,
    `  query       ${queryCommand(up, 'load.load1')}`,
    '',
  ];
  return lines.join('\n');
}

/** `owl-upstream query` as this process was started (node dist/upstream/cli.js, or under tsx). */
function queryCommand(up: Upstream, metric: string): string {
  const script = relative(process.cwd(), process.argv[1] ?? 'dist/upstream/cli.js');
  const port = up.apiAddress.port;
  const api = port === defaultUpstreamConfig().api.port ? [] : ['--api', `${LOOPBACK}:${port}`];
  const dir = up.config.stateDir;
  return ['node', ...process.execArgv, script, 'query', metric, '--state-dir', dir, ...api].join(' ');
}

/** Read the figures every LIVE_EVERY_MS and show them; `stop()` ends the line. */
function startLiveLine(line: LiveLine, up: Upstream, relay: Relay): { stop: () => void } {
  let reading = false;
  const read = async (): Promise<void> => {
    if (reading) return;
    reading = true;
    try {
      const stats = await up.store.stats();
      const s = relay.status();
      line.show(
        formatLiveLine({
          stored: stats.points,
          spoolRecords: s.spool.records,
          spoolBytes: s.spool.bytes,
          agentsOnline: s.agents.connected,
        }),
      );
    } catch {
      // The store is closing (Ctrl-C): the next figures never come.
    } finally {
      reading = false;
    }
  };
  void read();
  const timer = setInterval(() => void read(), LIVE_EVERY_MS);
  return {
    stop: () => {
      clearInterval(timer);
      line.end();
    },
  };
}
