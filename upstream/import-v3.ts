/**
 * A v3 server's tables (td-server's `hosts`, `services`, `plugins`, `metrics`),
 * exported as JSON or CSV, turned into the hosts and services `owl-upstream
 * import-v3` registers, so that existing td-clients keep their plugins. Pure:
 * text in, hosts and the rows left out (with why) out; the CLI does the I/O.
 *
 * The columns read (others are ignored; `\N`, `NULL` and empty cells are no value):
 * - hosts: `id`, `uuid`, `hostname` (or `name`), `ip`, `proxy` (the v3 proxy's address)
 * - plugins: `id`, `name` (the executable in plugins/, or `path`), `args`, `exec_interval` (or `interval`)
 * - services: `id`, `host_id` (or `host_uuid`), `plugin_id` (or `plugin`: a plugin's name),
 *   `name` (default: the plugin's), `args` and `exec_interval` (default: the plugin's)
 * - metrics: `service_id`, `name` (or `key`), `data_type` (GAUGE, COUNTER, DERIVE; default GAUGE)
 * - optional `host_services` (`host_id`, `service_id`): a service several hosts run
 * A service becomes the wire Service of HOSTCONFIGRESP (docs/protocol.md):
 * `{id, name, plugin, args, exec_interval, items: {<key>: {key, data_type}}}`.
 */
import type { DataType, Service } from '../protocol/index.js';
import { parseCsv } from './csv.js';

export const V3_TABLES = ['hosts', 'services', 'plugins', 'metrics', 'host_services'] as const;
export type V3Table = (typeof V3_TABLES)[number];

/** A table's rows as exported: column → cell (strings from CSV; JSON may carry numbers). */
export type V3Row = Record<string, unknown>;
export type V3Tables = Partial<Record<V3Table, V3Row[]>>;

export interface ImportedHost {
  uuid: string;
  hostname?: string;
  ip?: string;
  /** The v3 proxy the host reported through (its address), to pick a zone. */
  proxy?: string;
  services: Service[];
}

/** A row left out, and why. */
export interface SkippedRow {
  table: V3Table;
  /** The row's id (or uuid), else its 1-based position. */
  row: string;
  reason: string;
}

export interface V3Import {
  hosts: ImportedHost[];
  skipped: SkippedRow[];
}

export class V3ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'V3ImportError';
  }
}

const DATA_TYPES: ReadonlySet<string> = new Set(['GAUGE', 'COUNTER', 'DERIVE']);

/** A cell as text; undefined for no value (absent, null, `\N`, `NULL`, blank). */
function cell(row: V3Row, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = row[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
    const s = String(v).trim();
    if (s === '' || s === '\\N' || s.toUpperCase() === 'NULL') continue;
    return s;
  }
  return undefined;
}

/** JSON tables: `{"hosts": [...], ...}`, keys case-insensitive; a table may be absent. */
export function parseV3Json(text: string): V3Tables {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    throw new V3ImportError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new V3ImportError(`expected an object of tables (${V3_TABLES.join(', ')})`);
  const tables: V3Tables = {};
  for (const [key, rows] of Object.entries(parsed)) {
    const name = key.toLowerCase() as V3Table;
    if (!V3_TABLES.includes(name)) continue; // other tables of the v3 database are not needed
    if (!Array.isArray(rows) || rows.some((r) => typeof r !== 'object' || r === null || Array.isArray(r)))
      throw new V3ImportError(`${key}: expected an array of row objects`);
    tables[name] = (rows as V3Row[]).map(lowerKeys);
  }
  return tables;
}

function lowerKeys(row: V3Row): V3Row {
  const out: V3Row = {};
  for (const [k, v] of Object.entries(row)) out[k.trim().toLowerCase()] = v;
  return out;
}

/** CSV tables: one text per table (a file `<table>.csv` each). */
export function parseV3Csv(files: Partial<Record<V3Table, string>>): V3Tables {
  const tables: V3Tables = {};
  for (const name of V3_TABLES) {
    const text = files[name];
    if (text === undefined) continue;
    try {
      tables[name] = parseCsv(text);
    } catch (err) {
      throw new V3ImportError(`${name}.csv: ${(err as Error).message}`);
    }
  }
  return tables;
}

interface Plugin {
  name: string;
  args?: string;
  interval?: number;
}

const rowName = (row: V3Row, i: number, ...keys: string[]): string => cell(row, ...keys) ?? `#${i + 1}`;

/** A positive number of seconds, or undefined when `text` is absent; throws when it is not one. */
function seconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`exec_interval ${text}: not a positive number`);
  return n;
}

function pluginsById(tables: V3Tables, skipped: SkippedRow[]): Map<string, Plugin> {
  const plugins = new Map<string, Plugin>();
  (tables.plugins ?? []).forEach((row, i) => {
    const id = cell(row, 'id');
    const name = cell(row, 'name', 'path');
    const skip = (reason: string): void =>
      void skipped.push({ table: 'plugins', row: rowName(row, i, 'id'), reason });
    if (id === undefined) return skip('no id');
    if (name === undefined) return skip('no name');
    try {
      const args = cell(row, 'args');
      const interval = seconds(cell(row, 'exec_interval', 'interval'));
      plugins.set(id, {
        name,
        ...(args === undefined ? {} : { args }),
        ...(interval === undefined ? {} : { interval }),
      });
    } catch (err) {
      skip((err as Error).message);
    }
  });
  return plugins;
}

/** Items per service id, from the metrics table. */
function itemsByService(tables: V3Tables, skipped: SkippedRow[]): Map<string, Service['items']> {
  const items = new Map<string, NonNullable<Service['items']>>();
  (tables.metrics ?? []).forEach((row, i) => {
    const serviceId = cell(row, 'service_id');
    const key = cell(row, 'name', 'key', 'metric');
    const dataType = (cell(row, 'data_type', 'dt', 'type') ?? 'GAUGE').toUpperCase();
    const skip = (reason: string): void =>
      void skipped.push({ table: 'metrics', row: rowName(row, i, 'id'), reason });
    if (serviceId === undefined) return skip('no service_id');
    if (key === undefined) return skip('no name');
    if (!DATA_TYPES.has(dataType)) return skip(`data_type ${dataType}: not GAUGE, COUNTER or DERIVE`);
    let map = items.get(serviceId);
    if (map === undefined) items.set(serviceId, (map = {}));
    map[key] = { key, data_type: dataType as DataType };
  });
  return items;
}

interface ServiceRow {
  service: Service;
  /** Host ids or uuids named on the service row itself. */
  hostId?: string;
  hostUuid?: string;
}

function buildService(
  row: V3Row,
  plugins: Map<string, Plugin>,
  items: Map<string, Service['items']>,
): ServiceRow {
  const id = cell(row, 'id');
  const pluginId = cell(row, 'plugin_id');
  let plugin: Plugin | undefined;
  if (pluginId !== undefined) {
    plugin = plugins.get(pluginId);
    if (plugin === undefined) throw new Error(`plugin_id ${pluginId}: no such plugin`);
  } else {
    const name = cell(row, 'plugin');
    if (name === undefined) throw new Error('no plugin_id or plugin');
    plugin = [...plugins.values()].find((p) => p.name === name) ?? { name };
  }
  const name = cell(row, 'name') ?? plugin.name;
  const args = cell(row, 'args') ?? plugin.args;
  const interval = seconds(cell(row, 'exec_interval', 'interval')) ?? plugin.interval;
  if (interval === undefined) throw new Error('no exec_interval (on the service or its plugin)');
  const serviceItems = id === undefined ? undefined : items.get(id);
  const service: Service = {
    ...(id === undefined ? {} : { id: /^\d+$/.test(id) ? Number(id) : id }),
    name,
    plugin: plugin.name,
    ...(args === undefined ? {} : { args }),
    exec_interval: interval,
    items: serviceItems ?? {},
  };
  const hostId = cell(row, 'host_id');
  const hostUuid = cell(row, 'host_uuid', 'uuid');
  return {
    service,
    ...(hostId === undefined ? {} : { hostId }),
    ...(hostUuid === undefined ? {} : { hostUuid }),
  };
}

/** The hosts of a v3 export with their services, and every row left out with its reason. */
export function importV3(tables: V3Tables): V3Import {
  const skipped: SkippedRow[] = [];
  if (tables.hosts === undefined) throw new V3ImportError('no hosts table in the export');
  const plugins = pluginsById(tables, skipped);
  const items = itemsByService(tables, skipped);
  const hosts: ImportedHost[] = [];
  const byId = new Map<string, ImportedHost>();
  const byUuid = new Map<string, ImportedHost>();
  tables.hosts.forEach((row, i) => {
    const uuid = cell(row, 'uuid');
    const skip = (reason: string): void =>
      void skipped.push({ table: 'hosts', row: rowName(row, i, 'id'), reason });
    if (uuid === undefined) return skip('no uuid');
    if (/\s/.test(uuid)) return skip(`uuid ${JSON.stringify(uuid)}: contains white space`);
    if (byUuid.has(uuid)) return skip(`uuid ${uuid}: listed twice (the first row is kept)`);
    const hostname = cell(row, 'hostname', 'name');
    const ip = cell(row, 'ip');
    const proxy = cell(row, 'proxy');
    const host: ImportedHost = {
      uuid,
      ...(hostname === undefined ? {} : { hostname }),
      ...(ip === undefined ? {} : { ip }),
      ...(proxy === undefined ? {} : { proxy }),
      services: [],
    };
    hosts.push(host);
    byUuid.set(uuid, host);
    const id = cell(row, 'id');
    if (id !== undefined) byId.set(id, host);
  });
  const services = new Map<string, Service>();
  const hostOf = (hostId: string | undefined, hostUuid: string | undefined): ImportedHost | undefined =>
    (hostId === undefined ? undefined : byId.get(hostId)) ??
    (hostUuid === undefined ? undefined : byUuid.get(hostUuid));
  (tables.services ?? []).forEach((row, i) => {
    const skip = (reason: string): void =>
      void skipped.push({ table: 'services', row: rowName(row, i, 'id'), reason });
    let built: ServiceRow;
    try {
      built = buildService(row, plugins, items);
    } catch (err) {
      return skip((err as Error).message);
    }
    const id = cell(row, 'id');
    if (id !== undefined) services.set(id, built.service);
    if (built.hostId === undefined && built.hostUuid === undefined) {
      if (tables.host_services === undefined) skip('no host_id, and no host_services table');
      return;
    }
    const host = hostOf(built.hostId, built.hostUuid);
    if (host === undefined) return skip(`host ${built.hostId ?? built.hostUuid}: not in the hosts table`);
    host.services.push(built.service);
  });
  (tables.host_services ?? []).forEach((row, i) => {
    const skip = (reason: string): void =>
      void skipped.push({ table: 'host_services', row: `#${i + 1}`, reason });
    const serviceId = cell(row, 'service_id');
    const service = serviceId === undefined ? undefined : services.get(serviceId);
    if (service === undefined) return skip(`service_id ${serviceId ?? '(none)'}: no such service`);
    const host = hostOf(cell(row, 'host_id'), cell(row, 'host_uuid', 'uuid'));
    if (host === undefined) return skip('host: not in the hosts table');
    if (!host.services.includes(service)) host.services.push(service);
  });
  return { hosts, skipped };
}

/** Services as the wire compares them: two lists are the same when they serialise the same. */
export function sameServices(a: readonly Service[] | null | undefined, b: readonly Service[]): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b);
}
