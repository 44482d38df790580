/**
 * The zone inventory's NetDevice (v3's shape, docs/protocol.md) to the
 * poller's SnmpDevice, and back with the interface table filled in (v3's
 * UPDATEDEVICES). v3 knew only v2c on port 161 with a community; OWL adds
 * fields a v3 server never sends and a v3 proxy ignores: `snmp_user`,
 * `snmp_auth_protocol`, `snmp_auth_key`, `snmp_priv_protocol`,
 * `snmp_priv_key`, `snmp_timeout_ms`, `snmp_retries`.
 */
import type { Interface, NetDevice } from '../../protocol/index.js';
import type { SnmpAuthProtocol, SnmpDevice, SnmpPrivProtocol } from './device.js';
import type { InterfaceRow } from './device-poller.js';

/** What OWL reads beyond v3's fields. */
export interface NetDeviceV4 extends NetDevice {
  snmp_user?: string;
  snmp_auth_protocol?: SnmpAuthProtocol;
  snmp_auth_key?: string;
  snmp_priv_protocol?: SnmpPrivProtocol;
  snmp_priv_key?: string;
  snmp_timeout_ms?: number;
  snmp_retries?: number;
}

export interface DeviceDefaults {
  intervalMs: number;
  timeoutMs: number;
  retries: number;
}

export const DEVICE_DEFAULTS: DeviceDefaults = { intervalMs: 60_000, timeoutMs: 2_000, retries: 1 };

/** The device's stable id: its uuid, else its inventory id, else its address. */
export function deviceId(d: NetDevice): string {
  return d.uuid ?? (d.id === undefined ? d.ip : String(d.id));
}

/** A NetDevice as the poller runs it; `update_interval` is in seconds, as v3 had it. */
export function fromNetDevice(d: NetDeviceV4, defaults: DeviceDefaults = DEVICE_DEFAULTS): SnmpDevice {
  const v3 = (d.snmp_version ?? '').replace(/^v/i, '') === '3';
  const interval =
    d.update_interval !== undefined && d.update_interval > 0 ? d.update_interval * 1000 : defaults.intervalMs;
  const level =
    d.snmp_priv_key !== undefined
      ? 'authPriv'
      : d.snmp_auth_key !== undefined
        ? 'authNoPriv'
        : 'noAuthNoPriv';
  return {
    id: deviceId(d),
    address: d.ip,
    port: d.snmp_port ?? 161,
    version: v3 ? '3' : '2c',
    ...(v3
      ? {
          user: {
            name: d.snmp_user ?? '',
            level,
            ...(d.snmp_auth_key === undefined
              ? {}
              : { authProtocol: d.snmp_auth_protocol ?? 'sha', authKey: d.snmp_auth_key }),
            ...(d.snmp_priv_key === undefined
              ? {}
              : { privProtocol: d.snmp_priv_protocol ?? 'aes', privKey: d.snmp_priv_key }),
          },
        }
      : { community: d.snmp_community ?? 'public' }),
    intervalMs: interval,
    timeoutMs: d.snmp_timeout_ms ?? defaults.timeoutMs,
    retries: d.snmp_retries ?? defaults.retries,
    customOids: Object.values(d.custom_oids ?? {}).map((c) => ({ name: c.name, oid: c.oid })),
  };
}

/** The inventory update for a device whose interface table changed: only its identity and interfaces, no credentials. */
export function interfacesUpdate(d: NetDevice, rows: InterfaceRow[]): NetDevice {
  const interfaces: Record<string, Interface> = {};
  for (const r of rows)
    interfaces[String(r.index)] = {
      index: r.index,
      name: r.name,
      status: r.status,
      mac: r.mac,
      speed: r.speed,
    };
  return {
    ...(d.id === undefined ? {} : { id: d.id }),
    ...(d.uuid === undefined ? {} : { uuid: d.uuid }),
    ip: d.ip,
    interfaces,
  };
}
