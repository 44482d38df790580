/**
 * `owl-upstream device add|list|delete` and `port add|list|delete`: what a
 * zone's relay polls (SNMP devices) and checks (host ports). They edit the
 * zone's lists through the API (GET, then PUT of the whole list); the
 * upstream pushes every change to the zone's relay. Listing masks the
 * credentials: a terminal's scrollback is a log too.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { NetDevice, Port } from '../protocol/index.js';
import { apiOptions, call, fail, print, type ApiFlags } from './cli-client.js';

const SECRET_FIELDS = ['snmp_community', 'snmp_auth_key', 'snmp_priv_key'] as const;

interface DeviceFlags extends ApiFlags {
  ip: string;
  port?: number;
  id?: number;
  snmpVersion: '2c' | '3';
  community?: string;
  user?: string;
  authProtocol?: string;
  authKey?: string;
  privProtocol?: string;
  privKey?: string;
  interval?: number;
  timeoutMs?: number;
  retries?: number;
  oid?: string[];
}

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a non-negative integer');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const zonePath = (zone: string, what: 'devices' | 'ports'): string =>
  `/api/v1/zones/${encodeURIComponent(zone)}/${what}`;

/** A device list as shown to a person: credentials replaced by `***`. */
export function maskDevices(devices: NetDevice[]): NetDevice[] {
  return devices.map((d) => {
    const shown: Record<string, unknown> = { ...d };
    for (const f of SECRET_FIELDS) if (shown[f] !== undefined) shown[f] = '***';
    return shown as unknown as NetDevice;
  });
}

/** The device a `device add` describes; v3 users need --user and their keys. */
export function deviceFromFlags(flags: DeviceFlags, id: number): NetDevice {
  if (flags.snmpVersion === '3' && flags.user === undefined)
    throw new Error('--snmp-version 3 needs --user (and --auth-key, --priv-key for authPriv)');
  const customOids: Record<string, { name: string; oid: string }> = {};
  for (const spec of flags.oid ?? []) {
    const m = /^([A-Za-z0-9_.-]+)=\.?(\d+(?:\.\d+)+)$/.exec(spec);
    if (m === null) throw new Error(`--oid ${spec}: expected name=numeric.oid`);
    customOids[m[1] as string] = { name: m[1] as string, oid: m[2] as string };
  }
  const d: Record<string, unknown> = {
    id,
    // The samples' `device` tag: the address, with the port when it is not SNMP's own.
    uuid: flags.port === undefined || flags.port === 161 ? flags.ip : `${flags.ip}:${flags.port}`,
    ip: flags.ip,
    snmp_version: flags.snmpVersion,
    snmp_port: flags.port ?? 161,
    update_interval: flags.interval ?? 60,
    custom_oids: customOids,
  };
  const optional: Array<[string, unknown]> = [
    ['snmp_community', flags.community],
    ['snmp_user', flags.user],
    ['snmp_auth_protocol', flags.authProtocol],
    ['snmp_auth_key', flags.authKey],
    ['snmp_priv_protocol', flags.privProtocol],
    ['snmp_priv_key', flags.privKey],
    ['snmp_timeout_ms', flags.timeoutMs],
    ['snmp_retries', flags.retries],
  ];
  for (const [k, v] of optional) if (v !== undefined) d[k] = v;
  return d as unknown as NetDevice;
}

const nextId = (items: Array<{ id?: number | string }>): number =>
  1 + Math.max(0, ...items.map((x) => (typeof x.id === 'number' ? x.id : 0)));

async function addDevice(zone: string, flags: DeviceFlags): Promise<unknown> {
  const list = (await call(flags, 'GET', zonePath(zone, 'devices'))) as NetDevice[];
  if (list.some((d) => d.ip === flags.ip && (d.snmp_port ?? 161) === (flags.port ?? 161)))
    throw new Error(`zone ${zone} already has a device at ${flags.ip}:${flags.port ?? 161}`);
  const device = deviceFromFlags(flags, flags.id ?? nextId(list));
  await call(flags, 'PUT', zonePath(zone, 'devices'), [...list, device]);
  return maskDevices([device])[0];
}

async function removeItem(
  zone: string,
  what: 'devices' | 'ports',
  id: string,
  flags: ApiFlags,
): Promise<unknown> {
  const list = (await call(flags, 'GET', zonePath(zone, what))) as Array<{
    id?: number | string;
    ip?: string;
  }>;
  const kept = list.filter((x) => String(x.id) !== id);
  if (kept.length === list.length) throw new Error(`zone ${zone} has no ${what.slice(0, -1)} with id ${id}`);
  await call(flags, 'PUT', zonePath(zone, what), kept);
  return { zone, id, deleted: true };
}

export function zoneCommands(program: Command): void {
  const device = program.command('device').description("SNMP devices a zone's relay polls");
  apiOptions(
    device
      .command('add <zone>')
      .description('add a device to a zone (relay id)')
      .requiredOption('--ip <address>', 'device address')
      .option('--port <port>', 'SNMP port (default 161)', int)
      .option('--id <n>', 'inventory id (default: next free)', int)
      .option('--snmp-version <v>', '2c or 3', '2c')
      .option('--community <c>', 'v2c community (default public)')
      .option('--user <name>', 'v3 user')
      .option('--auth-protocol <p>', 'v3: md5, sha, sha224, sha256, sha384, sha512 (default sha)')
      .option('--auth-key <key>', 'v3 authentication key')
      .option('--priv-protocol <p>', 'v3: des, aes, aes256b, aes256r (default aes)')
      .option('--priv-key <key>', 'v3 privacy key')
      .option('--interval <s>', 'poll interval, seconds (default 60)', int)
      .option('--timeout-ms <ms>', 'per request (default 2000)', int)
      .option('--retries <n>', 'per request (default 1)', int)
      .option('--oid <name=oid>', 'custom OID, numeric (repeatable)', collect),
  ).action((zone: string, flags: DeviceFlags) => addDevice(zone, flags).then(print, fail));
  apiOptions(device.command('list <zone>').description("a zone's devices (credentials masked)")).action(
    (zone: string, flags: ApiFlags) =>
      call(flags, 'GET', zonePath(zone, 'devices')).then((d) => print(maskDevices(d as NetDevice[])), fail),
  );
  apiOptions(device.command('delete <zone> <id>').description('remove a device from a zone')).action(
    (zone: string, id: string, flags: ApiFlags) => removeItem(zone, 'devices', id, flags).then(print, fail),
  );

  const port = program.command('port').description("host ports a zone's relay checks");
  apiOptions(
    port
      .command('add <zone>')
      .description('add a host port to check')
      .requiredOption('--ip <address>', 'host address')
      .requiredOption('--port <port>', 'TCP port', int)
      .option('--proc <name>', 'the process expected to listen'),
  ).action(async (zone: string, flags: ApiFlags & { ip: string; port: number; proc?: string }) => {
    try {
      const list = (await call(flags, 'GET', zonePath(zone, 'ports'))) as Port[];
      const item: Port = {
        id: nextId(list),
        ip: flags.ip,
        port: flags.port,
        ...(flags.proc === undefined ? {} : { proc_name: flags.proc }),
      };
      await call(flags, 'PUT', zonePath(zone, 'ports'), [...list, item]);
      print(item);
    } catch (err) {
      fail(err);
    }
  });
  apiOptions(port.command('list <zone>').description("a zone's ports and their status")).action(
    (zone: string, flags: ApiFlags) => call(flags, 'GET', zonePath(zone, 'ports')).then(print, fail),
  );
  apiOptions(port.command('delete <zone> <id>').description('stop checking a port')).action(
    (zone: string, id: string, flags: ApiFlags) => removeItem(zone, 'ports', id, flags).then(print, fail),
  );
}
