/** The operator commands: `relay add|list|revoke`, `host list|add|move|delete`, `query`. */
import type { Command } from 'commander';
import { apiOptions, call, fail, print, type ApiFlags } from './cli-client.js';

export function adminCommands(program: Command): void {
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
}
