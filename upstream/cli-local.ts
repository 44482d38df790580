/** `owl-upstream local`: an upstream and one relay on this machine, on embedded defaults. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Relay, resolveRelayConfig } from '../relay/index.js';
import { onSignals, refusedStart } from './cli-start.js';
import { loadUpstreamConfig } from './config.js';
import { Upstream } from './server.js';

export function localCommand(program: Command): void {
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
}
