#!/usr/bin/env node
/**
 * `owl-agent run`, `owl-agent once` (every collector and plugin once, the
 * samples printed: for plugin authors) and `owl-agent status`.
 * A config error is one line naming the file and the key, exit code 2.
 */
import { Command } from 'commander';
import { pino } from 'pino';
import { Agent, readOsName, type AgentStatus } from './agent.js';
import { ConfigError } from './config-check.js';
import {
  DEFAULT_CONFIG_PATH,
  readAgentConfigFile,
  resolveAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
} from './config.js';
import { runOnce } from './once.js';
import { fetchAgentStatus } from './status-socket.js';
import { readV3Dir, type V3Settings } from './v3-migration.js';
import { AGENT_NAME } from './version.js';

interface Flags {
  config?: string;
  stateDir?: string;
  pluginDir?: string;
  relay?: string[];
  token?: string;
  v3Dir?: string;
  collectInterval?: string;
  logLevel?: AgentConfig['logLevel'];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

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
  const logger = pino({ level: config.logLevel, base: { program: 'owl-agent' } });
  if (v3)
    logger.info(
      { v3Dir: config.v3Dir, files: v3.files, ignoredKeys: v3.ignored },
      'taking over a v3 td-client',
    );
  await readOsName();
  const agent = await Agent.start({ config, agent: AGENT_NAME, logger, ...(v3 ? { v3 } : {}) });
  logger.info(
    { uuid: agent.uuid, relays: config.relays, stateDir: config.stateDir, pluginDir: config.pluginDir },
    'owl-agent running',
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    void agent.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Keep the process alive: every timer the agent holds is unref'd.
  setInterval(() => undefined, 1 << 30);
}

function formatStatus(s: AgentStatus): string {
  const lines = [
    `agent     ${s.agent}  uuid ${s.uuid}`,
    `relay     ${s.relay.relay ? `${s.relay.relay} (${s.relay.mode})` : `none${s.relay.lastError ? `: ${s.relay.lastError}` : ''}`}`,
    `buffer    ${s.buffer.batches} batches, ${s.buffer.samples} samples, ${s.buffer.bytes} bytes; dropped ${s.buffer.droppedSamples} samples`,
    `in flight ${s.relay.inFlight} batches; ACKed ${s.relay.acked} (${s.relay.duplicates} duplicates)`,
  ];
  for (const p of s.plugins) {
    const when = p.lastRunAt ? new Date(p.lastRunAt).toISOString() : 'never';
    lines.push(
      `plugin    ${p.service} (${p.plugin}): ${p.lastResult ?? 'not run'} at ${when}, ${p.samples} samples`,
    );
  }
  return lines.join('\n');
}

const program = new Command('owl-agent').description(
  'OWL host agent: runs plugins and collectors, sends to the nearest relay',
);

const withConfigFlags = (cmd: Command): Command =>
  cmd
    .option('-c, --config <file>', `JSON config (default ${DEFAULT_CONFIG_PATH} if present)`)
    .option('--state-dir <dir>', 'identity, cached config and buffer')
    .option('--plugin-dir <dir>', 'where plugins are (never written by the agent)')
    .option('--relay <host:port>', 'a relay to send to (repeat for several; the nearest is used)', collect)
    .option('--token <token>', 'the zone token')
    .option('--v3-dir <dir>', 'a v3 td-client directory to take over (client.conf, var/host.json)')
    .option('--collect-interval <s>', 'seconds between built-in collector rounds (0: off)')
    .option('--log-level <level>', 'debug, info, warn or error');

withConfigFlags(program.command('run').description('run the agent')).action(run);

withConfigFlags(
  program.command('once').description('run every collector and plugin once and print the samples'),
)
  .option('--json', 'one JSON sample per line instead of a table')
  .action(async (flags: Flags & { json?: boolean }) => {
    const { config, v3 } = await loadConfig(flags);
    process.stdout.write(await runOnce(config, v3, flags.json === true));
  });

program
  .command('status')
  .description("the running agent's relay, buffer and plugins")
  .option('--state-dir <dir>', 'the agent state directory', '/var/lib/owl-agent')
  .option('--json', 'print the status as JSON')
  .action(async (flags: { stateDir: string; json?: boolean }) => {
    let status: AgentStatus;
    try {
      status = (await fetchAgentStatus(flags.stateDir)) as AgentStatus;
    } catch (err) {
      process.stderr.write(
        `owl-agent status: no agent answers on ${flags.stateDir} (${(err as Error).message})\n`,
      );
      process.exit(1);
    }
    process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`owl-agent: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`owl-agent: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
