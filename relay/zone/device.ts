/** A network device the relay polls over SNMP, as the zone's inventory describes it. */

export type SnmpAuthProtocol = 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
export type SnmpPrivProtocol = 'des' | 'aes' | 'aes256b' | 'aes256r';

/** An SNMPv3 user (USM). Keys are secrets: never logged. */
export interface SnmpUser {
  name: string;
  level: 'noAuthNoPriv' | 'authNoPriv' | 'authPriv';
  authProtocol?: SnmpAuthProtocol;
  authKey?: string;
  privProtocol?: SnmpPrivProtocol;
  privKey?: string;
}

export interface SnmpDevice {
  /** The device's id in the zone inventory (its samples' `device` tag). */
  id: string;
  address: string;
  port: number;
  version: '2c' | '3';
  /** v2c community (a secret: never logged). */
  community?: string;
  user?: SnmpUser;
  intervalMs: number;
  /** Per request; a request is sent 1 + retries times before the device counts as silent. */
  timeoutMs: number;
  retries: number;
  /** Extra scalars (numeric OIDs, Debian ships no MIBs): sampled as `snmp.<name>`, a rate when a counter. */
  customOids: { name: string; oid: string }[];
}

/** What the relay may say about a device in a log line: no community, no keys. */
export function deviceLabel(d: SnmpDevice): { device: string; address: string; version: string } {
  return { device: d.id, address: `${d.address}:${d.port}`, version: d.version };
}
