#!/usr/bin/env node
/**
 * `owl-upstream run | local | relay add|list|revoke | host list|add|move|delete |
 * service list|set | device add|list|delete | port add|list|delete | query | series | import-v3 |
 * firmware publish|list|withdraw|status`.
 * Operator commands talk to the running server's API, with the token from
 * `<stateDir>/api-token` (or --token): upstream/cli-client.ts. A start that fails is one line
 * on stderr and exit code 2 (upstream/cli-start.ts).
 */
import { Command } from 'commander';
import { OWL_VERSION } from '../protocol/index.js';
import { parseHostPort as hostPort } from '../relay/index.js';
import { adminCommands } from './cli-admin.js';
import { firmwareCommands } from './cli-firmware.js';
import { localCommand } from './cli-local.js';
import { zoneCommands } from './cli-zone.js';
import { onSignals, setStartDebug, startFailed } from './cli-start.js';
import {
  assertUpstreamFiles,
  loadUpstreamConfig,
  type UpstreamConfig,
  type UpstreamConfigInput,
} from './config.js';
import { Upstream } from './server.js';

const program = new Command('owl-upstream')
  .description('OWL upstream: the central server')
  .version(OWL_VERSION)
  .option('--debug', 'print the stack trace of a failed start')
  // A usage error is a failed start too: exit code 2 (help and --version: 0).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .hook('preAction', () => setStartDebug(program.opts<{ debug?: boolean }>().debug === true));

program
  .command('run')
  .description('run the upstream server')
  .option('-c, --config <file>', 'JSON config file')
  .option('--state-dir <dir>', 'state directory (default /var/lib/owl-upstream)')
  .option('--uplink <host:port>', 'relay WebSocket listener', hostPort)
  .option('--agents <host:port>', 'direct agent listener', hostPort)
  .option('--api <host:port>', 'operator API listener', hostPort)
  .option('--metrics <host:port>', 'Prometheus /metrics, /healthz, /readyz listener', hostPort)
  .option('--log-level <level>', 'pino log level')
  .action(
    async (flags: {
      config?: string;
      stateDir?: string;
      uplink?: { host: string; port: number };
      agents?: { host: string; port: number };
      api?: { host: string; port: number };
      metrics?: { host: string; port: number };
      logLevel?: UpstreamConfigInput['logLevel'];
    }) => {
      const o: UpstreamConfigInput = {};
      if (flags.stateDir !== undefined) o.stateDir = flags.stateDir;
      if (flags.uplink !== undefined) o.uplink = flags.uplink;
      if (flags.agents !== undefined) o.agents = [flags.agents];
      if (flags.api !== undefined) o.api = flags.api;
      if (flags.metrics !== undefined) o.metrics = { enabled: true, ...flags.metrics };
      if (flags.logLevel !== undefined) o.logLevel = flags.logLevel;
      let config: UpstreamConfig | undefined;
      let up: Upstream;
      try {
        config = loadUpstreamConfig(flags.config, o);
        assertUpstreamFiles(config);
        up = await Upstream.start(config);
      } catch (err) {
        startFailed(err, config);
      }
      onSignals(() => up.stop());
    },
  );

localCommand(program);
adminCommands(program);
zoneCommands(program);
firmwareCommands(program);

await program.parseAsync(process.argv);
