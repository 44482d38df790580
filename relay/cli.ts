#!/usr/bin/env node
/**
 * `owl-relay run` and `owl-relay status`. A start that fails (config, token, TLS file, port,
 * state dir) is one line on stderr and exit code 2; the stack trace too with --debug.
 */
import { Command, InvalidArgumentError } from 'commander';
import { EXIT_FIRMWARE_RESTART } from '../firmware/index.js';
import { OWL_VERSION, startupFailureLine, startupFailureStack } from '../protocol/index.js';
import { parseHostPort as hostPort } from './host-port.js';
import { fetchStatus } from './control.js';
import { assertRunnable, loadRelayConfig, type RelayConfig, type RelayConfigInput } from './config.js';
import { applyRelayProcessSettings } from './process-settings.js';
import { Relay } from './relay.js';
import type { RelayStatus } from './metrics.js';

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a non-negative integer');
  return n;
}

function listen(
  value: string,
  previous: { host: string; port: number }[] | undefined,
): { host: string; port: number }[] {
  return [...(previous ?? []), hostPort(value)];
}

interface RunFlags {
  config?: string;
  stateDir?: string;
  relayId?: string;
  token?: string;
  upstream?: string[];
  listen?: { host: string; port: number }[];
  zoneToken?: string;
  v3Allow?: string[];
  spoolMaxBytes?: number;
  spoolPolicy?: 'drop-oldest' | 'reject-new';
  metrics?: string;
  logLevel?: RelayConfigInput['logLevel'];
}

function overrides(flags: RunFlags): RelayConfigInput {
  const o: RelayConfigInput = {};
  if (flags.stateDir !== undefined) o.stateDir = flags.stateDir;
  if (flags.relayId !== undefined) o.relayId = flags.relayId;
  if (flags.token !== undefined) o.token = flags.token;
  if (flags.upstream !== undefined) o.upstreams = flags.upstream;
  if (flags.listen !== undefined) o.listen = flags.listen;
  if (flags.zoneToken !== undefined) o.zoneToken = flags.zoneToken;
  if (flags.v3Allow !== undefined) o.v3Allow = flags.v3Allow;
  if (flags.logLevel !== undefined) o.logLevel = flags.logLevel;
  const spool: RelayConfigInput['spool'] = {};
  if (flags.spoolMaxBytes !== undefined) spool.maxBytes = flags.spoolMaxBytes;
  if (flags.spoolPolicy !== undefined) spool.policy = flags.spoolPolicy;
  o.spool = spool;
  if (flags.metrics !== undefined) o.metrics = { enabled: true, ...hostPort(flags.metrics) };
  return o;
}

function formatStatus(s: RelayStatus): string {
  const age = s.spool.records === 0 ? '-' : `${(s.spool.oldestAgeMs / 1000).toFixed(1)} s`;
  return [
    `uplink:  ${s.uplink.state}${s.uplink.url === null ? '' : ` to ${s.uplink.url}`} (${s.uplink.inFlight}/${s.uplink.window} batches in flight)`,
    `agents:  ${s.agents.connected} connected`,
    `spool:   ${s.spool.samples} samples in ${s.spool.records} records, ${s.spool.bytes} bytes (${s.spool.diskBytes} on disk), oldest ${age}`,
    `dropped: ${s.spool.droppedSamples} samples in ${s.spool.droppedRecords} records (spool cap policy)`,
    `zone:    ${s.zone.devicesUp}/${s.zone.devices} devices answering, ${s.zone.skippedPolls} polls skipped`,
    `firmware: ${formatFirmware(s.firmware)}`,
  ].join('\n');
}

function formatFirmware(f: RelayStatus['firmware']): string {
  const pending = f.pendingVersion === null ? '' : ` (${f.pendingVersion} pending)`;
  const d = f.download;
  const download = d === null ? '' : `, fetching ${d.program} ${d.version}: ${d.bytes}/${d.size} bytes`;
  const refused = f.refused === null ? '' : `, last refused: ${f.refused.version ?? '?'} ${f.refused.code}`;
  return `${f.version} ${f.state}${pending}, ${f.cached}/${f.offered} offered bundles cached${download}${refused}`;
}

/** A failed start: one line naming the key (listeners and state dir from `config`), exit code 2. */
function startFailed(err: unknown, config: RelayConfig | undefined, debug: boolean): never {
  const context = {
    stateDir: config?.stateDir ?? '',
    listeners: [
      ...(config?.listen ?? []).map((l, i) => ({ key: `listen[${i}]`, ...l })),
      ...(config?.metrics.enabled === true ? [{ key: 'metrics', ...config.metrics }] : []),
    ],
  };
  process.stderr.write(`owl-relay: ${startupFailureLine(err, context)}\n`);
  if (debug) process.stderr.write(`${startupFailureStack(err)}\n`);
  process.exit(2);
}

const program = new Command('owl-relay')
  .description('OWL relay: one per network zone')
  .version(OWL_VERSION)
  .option('--debug', 'print the stack trace of a failed start')
  // A usage error is a failed start too: exit code 2 (help and --version: 0).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
const debug = (): boolean => program.opts<{ debug?: boolean }>().debug === true;
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

program
  .command('run')
  .description('run the relay')
  .option('-c, --config <file>', 'JSON config file')
  .option('--state-dir <dir>', 'state directory (default /var/lib/owl-relay)')
  .option('--relay-id <id>', 'this relay id at the upstream')
  .option('--token <token>', 'uplink token (from `owl-upstream relay add <id>`)')
  .option('--upstream <url>', 'upstream URL (repeatable)', collect)
  .option('--listen <host:port>', 'agent listener (repeatable)', listen)
  .option('--zone-token <token>', 'token v4 agents present in HELLO')
  .option('--v3-allow <cidr>', 'CIDR allowed to connect without HELLO (repeatable)', collect)
  .option('--spool-max-bytes <n>', 'spool byte cap', int)
  .option('--spool-policy <policy>', 'drop-oldest | reject-new')
  .option('--metrics <host:port>', 'serve Prometheus /metrics there')
  .option('--log-level <level>', 'pino log level')
  .action(async (flags: RunFlags) => {
    let config: RelayConfig | undefined;
    let relay: Relay | undefined;
    let stopping = false;
    // A signal, or a firmware switch (exit code 75: the service manager starts the new slot).
    const stop = (code = 0): void => {
      if (stopping || relay === undefined) return;
      stopping = true;
      relay.stop().then(
        () => process.exit(code),
        () => process.exit(1),
      );
    };
    try {
      config = loadRelayConfig(flags.config, overrides(flags));
      assertRunnable(config);
      // The memory settings that need a fresh process: this process is replaced by one that has them.
      applyRelayProcessSettings(config);
      let switchedEarly = false;
      relay = await Relay.start(config, {
        onFirmwareRestart: () => {
          if (relay === undefined) switchedEarly = true;
          else stop(EXIT_FIRMWARE_RESTART);
        },
      });
      if (switchedEarly) stop(EXIT_FIRMWARE_RESTART);
    } catch (err) {
      startFailed(err, config, debug());
    }
    process.on('SIGINT', () => stop());
    process.on('SIGTERM', () => stop());
  });

program
  .command('status')
  .description("print a running relay's spool, uplink and agent figures")
  .option('--state-dir <dir>', 'state directory of the relay', '/var/lib/owl-relay')
  .option('--json', 'print JSON')
  .action(async (flags: { stateDir: string; json?: boolean }) => {
    try {
      const status = await fetchStatus(flags.stateDir);
      process.stdout.write(
        (flags.json === true ? JSON.stringify(status, null, 2) : formatStatus(status)) + '\n',
      );
    } catch (err) {
      process.stderr.write(`owl-relay: no relay answers in ${flags.stateDir} (${(err as Error).message})\n`);
      process.exitCode = 3;
    }
  });

await program.parseAsync(process.argv);
