/**
 * The operator commands: `relay add|list|revoke`, `host list|add|move|delete`,
 * `service list|set`, `import-v3`, `query`, `series`, `sinks`, `status`.
 */
import type { Command } from 'commander';
import { apiOptions, call, fail, print, type ApiFlags } from './cli-client.js';
import { readServicesFile, runImport, type ImportFlags, type ImportSummary } from './cli-import.js';
import { parseTimeFlag, tagParams } from './cli-time.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const hostPath = (uuid: string): string => `/api/v1/hosts/${encodeURIComponent(uuid)}`;

/** Run `action`, printing what it resolves to; a thrown error (a bad file, a bad flag) is reported like an API error. */
const run =
  <A extends unknown[]>(action: (...args: A) => Promise<unknown>) =>
  (...args: A): Promise<void> =>
    Promise.resolve()
      .then(() => action(...args))
      .then(print, fail);

export function adminCommands(program: Command): void {
  relayCommands(program);
  hostCommands(program);
  serviceCommands(program);
  importCommand(program);
  dataCommands(program);
  apiOptions(
    program
      .command('sinks')
      .description('sinks the upstream forwards samples to: state, cursor, lag, sent, failures, last error'),
  ).action(run((flags: ApiFlags) => call(flags, 'GET', '/api/v1/sinks')));
  apiOptions(
    program.command('status').description("the upstream at a glance: its store's figures, relays and sinks"),
  ).action(
    run(async (flags: ApiFlags) => {
      const [store, relays, sinks] = await Promise.all(
        ['/api/v1/stats', '/api/v1/relays', '/api/v1/sinks'].map((path) => call(flags, 'GET', path)),
      );
      return { store, relays, sinks };
    }),
  );
}

function relayCommands(program: Command): void {
  const relayCmd = program.command('relay').description('manage relays');
  apiOptions(relayCmd.command('add <name>').description('add a relay; prints its token once')).action(
    run((name: string, flags: ApiFlags) => call(flags, 'POST', '/api/v1/relays', { id: name })),
  );
  apiOptions(relayCmd.command('list').description('relays with live status')).action(
    run((flags: ApiFlags) => call(flags, 'GET', '/api/v1/relays')),
  );
  apiOptions(relayCmd.command('revoke <name>').description('revoke a relay')).action(
    run((name: string, flags: ApiFlags) =>
      call(flags, 'DELETE', `/api/v1/relays/${encodeURIComponent(name)}`),
    ),
  );
}

function hostCommands(program: Command): void {
  const hostCmd = program.command('host').description('manage hosts');
  apiOptions(hostCmd.command('list').description('registered hosts')).action(
    run((flags: ApiFlags) => call(flags, 'GET', '/api/v1/hosts')),
  );
  type AddFlags = ApiFlags & { zone?: string; hostname?: string; services?: string };
  apiOptions(
    hostCmd
      .command('add <uuid>')
      .description('register a host before its agent reports (needed when autoRegister is off)')
      .option('--zone <zone>', 'relay id that serves it (default: direct)')
      .option('--hostname <name>', 'hostname until the agent reports its own')
      .option('--services <file>', 'JSON file: the services (plugins) its agent runs, an array'),
  ).action(
    run(async (uuid: string, flags: AddFlags) =>
      call(flags, 'POST', '/api/v1/hosts', {
        uuid,
        ...(flags.zone === undefined ? {} : { zone: flags.zone }),
        ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
        ...(flags.services === undefined ? {} : { services: readServicesFile(flags.services) }),
      }),
    ),
  );
  apiOptions(
    hostCmd.command('move <uuid> <zone>').description('serve a host from another zone (relay id, or direct)'),
  ).action(
    run((uuid: string, zone: string, flags: ApiFlags) =>
      call(flags, 'PUT', `${hostPath(uuid)}/zone`, { zone }),
    ),
  );
  apiOptions(
    hostCmd.command('delete <uuid>').description('forget a host, its ports and asset (its series stay)'),
  ).action(run((uuid: string, flags: ApiFlags) => call(flags, 'DELETE', hostPath(uuid))));
}

function serviceCommands(program: Command): void {
  const serviceCmd = program.command('service').description("a host's services (the plugins its agent runs)");
  apiOptions(serviceCmd.command('list <uuid>').description("a host's services")).action(
    run(async (uuid: string, flags: ApiFlags) => {
      const r = (await call(flags, 'GET', hostPath(uuid))) as { host: { services?: unknown } };
      return r.host.services ?? [];
    }),
  );
  apiOptions(
    serviceCmd
      .command('set <uuid> <file>')
      .description(
        "replace a host's services with those of a JSON file (an array); its agent gets them at once",
      ),
  ).action(
    run(async (uuid: string, file: string, flags: ApiFlags) =>
      call(flags, 'PUT', `${hostPath(uuid)}/services`, readServicesFile(file)),
    ),
  );
}

function importCommand(program: Command): void {
  apiOptions(
    program
      .command('import-v3 <export>')
      .description(
        "load hosts and their services from a v3 server's tables (hosts, services, plugins, metrics): " +
          'a JSON file of tables, or a directory of <table>.csv; re-running updates, never duplicates',
      )
      .option('--zone <zone>', 'zone of hosts new to the upstream (relay id; default direct)')
      .option(
        '--proxy-zone <proxy=relay>',
        'hosts of that v3 proxy (its address) go to that relay (repeatable)',
        collect,
      )
      .option('--dry-run', 'show what would change, change nothing'),
  ).action(run(async (path: string, flags: ImportFlags) => summaryView(await runImport(path, flags), flags)));
}

function summaryView(s: ImportSummary, flags: ImportFlags): unknown {
  return {
    ...(flags.dryRun === true ? { dryRun: true } : {}),
    added: s.added.length,
    updated: s.updated.length,
    unchanged: s.unchanged.length,
    skipped: s.skipped.length,
    hosts: { added: s.added, updated: s.updated, unchanged: s.unchanged, skipped: s.skipped },
    rowsSkipped: s.rowsSkipped,
  };
}

function dataCommands(program: Command): void {
  type QueryFlags = ApiFlags & { since?: string; from?: string; to?: string; tag?: string[] };
  apiOptions(
    program
      .command('query <metric>')
      .description('points of a metric (default: the last hour)')
      .option('--since <duration>', 'the last 1h, 30m, 2d, … (default 1h)')
      .option('--from <time>', 'start: ISO time, epoch ms, or relative (-1h, -30m, -2d)')
      .option('--to <time>', 'end: same forms (default now)')
      .option('--tag <k=v>', 'only series with this tag (repeatable), e.g. uuid=…', collect),
  ).action(
    run(async (metric: string, flags: QueryFlags) => {
      if (flags.since !== undefined && flags.from !== undefined)
        throw new Error('--since and --from: give one of them');
      const now = Date.now();
      const params = new URLSearchParams({ metric });
      if (flags.from !== undefined) params.set('from', String(parseTimeFlag('--from', flags.from, now)));
      else params.set('since', flags.since ?? '1h');
      if (flags.to !== undefined) params.set('to', String(parseTimeFlag('--to', flags.to, now)));
      for (const [k, v] of tagParams(flags.tag ?? [])) params.append(k, v);
      return call(flags, 'GET', `/api/v1/query?${params.toString()}`);
    }),
  );
  type SeriesFlags = ApiFlags & { prefix?: string; metric?: string; limit?: string };
  apiOptions(
    program
      .command('series')
      .description('stored series: metric and tags')
      .option('--prefix <text>', 'metrics starting with this')
      .option('--metric <name>', 'exactly this metric')
      .option('--limit <n>', 'at most this many (default 1000)'),
  ).action(
    run(async (flags: SeriesFlags) => {
      const params = new URLSearchParams();
      if (flags.prefix !== undefined) params.set('prefix', flags.prefix);
      if (flags.metric !== undefined) params.set('metric', flags.metric);
      if (flags.limit !== undefined) {
        if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1)
          throw new Error(`--limit ${flags.limit}: expected a positive integer`);
        params.set('limit', flags.limit);
      }
      const query = params.toString();
      return call(flags, 'GET', `/api/v1/series${query === '' ? '' : `?${query}`}`);
    }),
  );
}
