/**
 * `owl-upstream import-v3 <export>`: a v3 server's hosts and services
 * (import-v3.ts reads the export) registered through the API. Idempotent: a
 * host that exists gets its services replaced when they differ, and a re-run
 * changes nothing. Also reads the services files of `host add --services` and
 * `service set`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Service } from '../protocol/index.js';
import { call, type ApiFlags } from './cli-client.js';
import {
  importV3,
  parseV3Csv,
  parseV3Json,
  sameServices,
  V3_TABLES,
  type ImportedHost,
  type SkippedRow,
  type V3Table,
  type V3Tables,
} from './import-v3.js';

export interface ImportFlags extends ApiFlags {
  /** Zone of hosts new to the upstream (default: direct). */
  zone?: string;
  /** `<v3 proxy address>=<relay id>`: new hosts that reported through that proxy go to that zone. */
  proxyZone?: string[];
  dryRun?: boolean;
}

export interface ImportSummary {
  added: string[];
  updated: string[];
  unchanged: string[];
  skipped: { host: string; reason: string }[];
  /** Rows of the export left out (a service without a plugin, a metric with a bad data_type, …). */
  rowsSkipped: SkippedRow[];
}

/** The tables of an export: a `.json` file, a `.csv` file of hosts, or a directory of `<table>.csv|json`. */
export function readV3Export(path: string): V3Tables {
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
  if (statSync(path).isDirectory()) {
    const names = readdirSync(path);
    const json = names.find((n) => n.toLowerCase() === 'v3.json' || n.toLowerCase() === 'export.json');
    if (json !== undefined) return withFile(join(path, json), parseV3Json);
    const files: Partial<Record<V3Table, string>> = {};
    const jsonTables: V3Tables = {};
    for (const table of V3_TABLES) {
      const csv = names.find((n) => n.toLowerCase() === `${table}.csv`);
      const js = names.find((n) => n.toLowerCase() === `${table}.json`);
      if (csv !== undefined) files[table] = readFileSync(join(path, csv), 'utf8');
      else if (js !== undefined)
        Object.assign(
          jsonTables,
          withFile(join(path, js), (text) => parseV3Json(`{"${table}":${text}}`)),
        );
    }
    if (files.hosts === undefined && jsonTables.hosts === undefined)
      throw new Error(`${path}: no hosts.csv or hosts.json (expected ${V3_TABLES.join(', ')})`);
    return { ...jsonTables, ...parseV3Csv(files) };
  }
  if (extname(path).toLowerCase() === '.csv') return parseV3Csv({ hosts: readFileSync(path, 'utf8') });
  return withFile(path, parseV3Json);
}

function withFile<T>(file: string, parse: (text: string) => T): T {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** A services file: a JSON array of services, or `{"services": [...]}` (a HOSTCONFIGRESP). */
export function readServicesFile(file: string): Service[] {
  const parsed = withFile(file, (text) => JSON.parse(text) as unknown);
  const services =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as { services?: unknown }).services
      : parsed;
  if (!Array.isArray(services)) throw new Error(`${file}: expected a JSON array of services`);
  return services as Service[];
}

/** `ip=relay` pairs, checked. */
function proxyZones(pairs: readonly string[]): Map<string, string> {
  const zones = new Map<string, string>();
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    if (at <= 0 || at === pair.length - 1)
      throw new Error(`--proxy-zone ${pair}: expected <proxy address>=<relay id>`);
    zones.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return zones;
}

interface ListedHost {
  host: { uuid: string; services?: Service[] | null };
}

/** Register or update each host; API refusals of one host skip it (with the API's reason), not the run. */
export async function runImport(path: string, flags: ImportFlags): Promise<ImportSummary> {
  const { hosts, skipped: rowsSkipped } = importV3(readV3Export(path));
  const zones = proxyZones(flags.proxyZone ?? []);
  const existing = new Map(
    ((await call(flags, 'GET', '/api/v1/hosts')) as ListedHost[]).map((r) => [r.host.uuid, r.host]),
  );
  const summary: ImportSummary = { added: [], updated: [], unchanged: [], skipped: [], rowsSkipped };
  for (const host of hosts) {
    const known = existing.get(host.uuid);
    try {
      if (known === undefined) {
        if (flags.dryRun !== true)
          await call(flags, 'POST', '/api/v1/hosts', newHostBody(host, zones, flags.zone));
        summary.added.push(host.uuid);
      } else if (sameServices(known.services, host.services)) {
        summary.unchanged.push(host.uuid);
      } else {
        if (flags.dryRun !== true)
          await call(flags, 'PUT', `/api/v1/hosts/${encodeURIComponent(host.uuid)}/services`, host.services);
        summary.updated.push(host.uuid);
      }
    } catch (err) {
      const message = (err as Error).message;
      // Not the API refusing this host (a 4xx) but the API gone: stop, the rest would fail alike.
      if (!/^4\d\d: /.test(message)) throw err;
      summary.skipped.push({ host: host.uuid, reason: message });
    }
  }
  return summary;
}

function newHostBody(host: ImportedHost, zones: Map<string, string>, zone: string | undefined): unknown {
  const z = (host.proxy === undefined ? undefined : zones.get(host.proxy)) ?? zone;
  return {
    uuid: host.uuid,
    ...(z === undefined ? {} : { zone: z }),
    ...(host.hostname === undefined ? {} : { hostname: host.hostname }),
    services: host.services,
  };
}
