#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=1 --max-opt=1 --single-threaded-gc
/**
 * `owl-agent run`, `owl-agent once` (every collector and plugin once, the
 * samples printed: for plugin authors) and `owl-agent status`.
 * A config error is one line naming the file and the key, exit code 2 (with --debug, the stack
 * trace too); `--version` prints the version.
 * The first line runs it light, for a process on every host (docs/agent.md,
 * measured in bench/agent-footprint.ts): one malloc arena, a 1 MiB young
 * generation, no optimizing compiler (its code and zones cost 9 MB of RSS;
 * the agent has no hot loop that needs it), GC on the main thread.
 * Flags are read with node:util's parseArgs, not commander: commander and
 * the stream machinery it loads cost the agent 4.5 MB of RSS (Node 24).
 */
import { parseArgs } from 'node:util';
import { Agent, readOsName, type AgentStatus } from './agent.js';
import { ConfigError } from './config-check.js';
import {
  checkAgentConfig,
  DEFAULT_CONFIG_PATH,
  readAgentConfigFile,
  resolveAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
} from './config.js';
import { EXIT_FIRMWARE_RESTART } from './firmware/index.js';
import { runOnce } from './once.js';
import { fetchAgentStatus } from './status-socket.js';
import { readV3Dir, type V3Settings } from './v3-migration.js';
import { jsonLogger } from './json-log.js';
import { AGENT_NAME, AGENT_VERSION } from './version.js';

interface Flags {
  config?: string;
  stateDir?: string;
  pluginDir?: string;
  relay?: string[];
  token?: string;
  v3Dir?: string;
  collectInterval?: string;
  logLevel?: AgentConfig['logLevel'];
  json?: boolean;
  debug?: boolean;
  parentPid?: number;
}

async function loadConfig(flags: Flags): Promise<{ config: AgentConfig; v3?: V3Settings }> {
  const file = await readAgentConfigFile(flags.config ?? DEFAULT_CONFIG_PATH, flags.config !== undefined);
  const fromFlags: AgentConfigInput = {
    ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
    ...(flags.pluginDir ? { pluginDir: flags.pluginDir } : {}),
    ...(flags.relay ? { relays: flags.relay } : {}),
    ...(flags.token !== undefined ? { token: flags.token } : {}),
    ...(flags.v3Dir ? { v3Dir: flags.v3Dir } : {}),
    ...(flags.collectInterval !== undefined ? { collectInterval: Number(flags.collectInterval) } : {}),
    ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
  };
  checkAgentConfig(fromFlags, 'command line');
  const v3Dir = fromFlags.v3Dir ?? file.v3Dir;
  let v3: V3Settings | undefined;
  if (v3Dir) {
    try {
      v3 = await readV3Dir(v3Dir);
    } catch (err) {
      throw new ConfigError(`v3Dir: ${(err as Error).message}`);
    }
  }
  const config = resolveAgentConfig([file, fromFlags], v3);
  return v3 ? { config, v3 } : { config };
}

async function run(flags: Flags): Promise<void> {
  const { config, v3 } = await loadConfig(flags);
  const logger = jsonLogger(config.logLevel, { program: 'owl-agent' });
  if (v3)
    logger.info(
      { v3Dir: config.v3Dir, files: v3.files, ignoredKeys: v3.ignored },
      'taking over a v3 td-client',
    );
  await readOsName();
  let stopping = false;
  const stop = (signal: string, code = 0): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    void started.then((a) => a.stop()).then(() => process.exit(code));
  };
  const started = Agent.start({
    config,
    agent: AGENT_NAME,
    logger,
    ...(v3 ? { v3 } : {}),
    // The batches not yet acknowledged stay in the buffer, sent by the new version.
    onFirmwareRestart: () => stop('firmware switched', EXIT_FIRMWARE_RESTART),
  });
  const agent = await started;
  logger.info(
    {
      uuid: agent.uuid,
      version: agent.status().firmware.version,
      relays: config.relays,
      stateDir: config.stateDir,
      pluginDir: config.pluginDir,
    },
    'owl-agent running',
  );
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (flags.parentPid !== undefined) stopWithParent(flags.parentPid, () => stop('parent gone'));
  // Keep the process alive: every timer the agent holds is unref'd.
  setInterval(() => undefined, 1 << 30);
}

/**
 * For a parent that runs the agent as its child (`owl-upstream local`): once the parent is gone,
 * even by SIGKILL (the agent is re-parented), it stops as if told to. Checked now and every
 * second; the parent names itself, as it may be gone before the agent has loaded.
 */
function stopWithParent(parent: number, stop: () => void): void {
  const check = (): void => {
    if (process.ppid !== parent) stop();
  };
  setInterval(check, 1000).unref();
  check();
}

function formatStatus(s: AgentStatus): string {
  const lines = [
    `agent     ${s.agent}  uuid ${s.uuid}`,
    `relay     ${s.relay.relay ? `${s.relay.relay} (${s.relay.mode})` : `none${s.relay.lastError ? `: ${s.relay.lastError}` : ''}`}`,
    `buffer    ${s.buffer.batches} batches, ${s.buffer.samples} samples, ${s.buffer.bytes} bytes; dropped ${s.buffer.droppedSamples} samples`,
    `in flight ${s.relay.inFlight} batches; ACKed ${s.relay.acked} (${s.relay.duplicates} duplicates)`,
    formatFirmware(s.firmware),
  ];
  for (const p of s.plugins) {
    const when = p.lastRunAt ? new Date(p.lastRunAt).toISOString() : 'never';
    lines.push(
      `plugin    ${p.service} (${p.plugin}): ${p.lastResult ?? 'not run'} at ${when}, ${p.samples} samples`,
    );
  }
  return lines.join('\n');
}

function formatFirmware(f: AgentStatus['firmware']): string {
  if (!f.root) return `firmware  ${f.version} (not running from slots: updates off)`;
  const parts = [`${f.version} from ${f.root}, ${f.state}`];
  if (f.pendingVersion) parts.push(`pending ${f.pendingVersion}`);
  if (f.download) parts.push(`fetching ${f.download.version} ${f.download.bytes}/${f.download.size} bytes`);
  if (f.lastFailure) parts.push(`last failure ${f.lastFailure.version}: ${f.lastFailure.code}`);
  if (f.refused) parts.push(`refused ${f.refused.version ?? '?'}: ${f.refused.code}`);
  if (f.keys === 0) parts.push('no key pinned');
  return `firmware  ${parts.join('; ')}`;
}

const USAGE = `Usage: owl-agent <command> [flags]

Commands:
  run      run the agent
  once     run every collector and plugin once and print the samples (--json: one JSON sample per line)
  status   the running agent's relay, buffer and plugins (--json)
  --version  print the version

Flags (run, once):
  -c, --config <file>       JSON config (default ${DEFAULT_CONFIG_PATH} if present)
  --state-dir <dir>         identity, cached config and buffer
  --plugin-dir <dir>        where plugins are (never written by the agent)
  --relay <host:port>       a relay to send to (repeat for several; the nearest is used)
  --token <token>           the zone token
  --v3-dir <dir>            a v3 td-client directory to take over (client.conf, var/host.json)
  --collect-interval <s>    seconds between built-in collector rounds (0: off)
  --log-level <level>       debug, info, warn or error
  --debug                   a failed start prints its stack trace too
  --parent-pid <pid>        (run) stop once this process, the agent's parent, is gone
Flags (status):
  --state-dir <dir>         the agent's state directory (default /var/lib/owl-agent)
`;

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ConfigError(`${flag}: must be a positive integer, not "${value}"`);
  return n;
}

function parseFlags(argv: string[]): { command: string | undefined; flags: Flags } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'state-dir': { type: 'string' },
      'plugin-dir': { type: 'string' },
      relay: { type: 'string', multiple: true },
      token: { type: 'string' },
      'v3-dir': { type: 'string' },
      'collect-interval': { type: 'string' },
      'log-level': { type: 'string' },
      json: { type: 'boolean' },
      debug: { type: 'boolean' },
      'parent-pid': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.version) return { command: 'version', flags: {} };
  if (values.help || positionals.length !== 1) return { command: undefined, flags: {} };
  const level = values['log-level'];
  if (level !== undefined && !['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ConfigError(`--log-level: must be debug, info, warn or error, not "${level}"`);
  }
  const flags: Flags = {
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(values['state-dir'] !== undefined ? { stateDir: values['state-dir'] } : {}),
    ...(values['plugin-dir'] !== undefined ? { pluginDir: values['plugin-dir'] } : {}),
    ...(values.relay !== undefined ? { relay: values.relay } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values['v3-dir'] !== undefined ? { v3Dir: values['v3-dir'] } : {}),
    ...(values['collect-interval'] !== undefined ? { collectInterval: values['collect-interval'] } : {}),
    ...(level !== undefined ? { logLevel: level as AgentConfig['logLevel'] } : {}),
    ...(values.json ? { json: true } : {}),
    ...(values.debug ? { debug: true } : {}),
    ...(values['parent-pid'] !== undefined
      ? { parentPid: positiveInt('--parent-pid', values['parent-pid']) }
      : {}),
  };
  return { command: positionals[0], flags };
}

async function status(flags: Flags): Promise<void> {
  const stateDir = flags.stateDir ?? '/var/lib/owl-agent';
  let s: AgentStatus;
  try {
    s = (await fetchAgentStatus(stateDir)) as AgentStatus;
  } catch (err) {
    process.stderr.write(`owl-agent status: no agent answers on ${stateDir} (${(err as Error).message})\n`);
    process.exit(1);
  }
  process.stdout.write(flags.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
}

async function main(): Promise<void> {
  // Before the first fs call starts libuv's pool: two threads are plenty for a few files a second.
  process.env.UV_THREADPOOL_SIZE ??= '2';
  const { command, flags } = parseFlags(process.argv.slice(2));
  if (command === 'version') return void process.stdout.write(`${AGENT_VERSION}\n`);
  if (command === 'run') return run(flags);
  if (command === 'once') {
    const { config, v3 } = await loadConfig(flags);
    process.stdout.write(await runOnce(config, v3, flags.json === true));
    return;
  }
  if (command === 'status') return status(flags);
  process.stdout.write(USAGE);
  if (command !== undefined) process.exit(2);
}

// Whatever stops a start (a bad config, an unwritable or locked state dir, …) is one line and
// exit code 2, as for owl-relay and owl-upstream; the stack only with --debug.
main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  const message = (e?.message ?? String(err)).replace(/\s+/g, ' ').trim();
  const code =
    err instanceof ConfigError || e?.code === undefined || message.includes(e.code) ? '' : ` (${e.code})`;
  process.stderr.write(`owl-agent: ${message}${code}\n`);
  if (process.argv.includes('--debug')) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(2);
});
