/**
 * One device's SNMP session (net-snmp, v2c or v3 USM), its answers turned
 * into typed values: counters as bigint with their width, so rates are
 * computed without losing Counter64 bits. Each answer carries the local time
 * it arrived, which rates are measured over.
 */
import snmp from 'net-snmp';
import type { SnmpDevice } from './device.js';

export type SnmpValue =
  | { kind: 'counter'; bits: 32 | 64; value: bigint }
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string; raw: Buffer }
  | { kind: 'missing' };

export interface SnmpVarbind {
  oid: string;
  value: SnmpValue;
}

/** The answer to one request and when it arrived. */
export interface SnmpAnswer<T> {
  varbinds: T;
  atMs: number;
}

const T = snmp.ObjectType as Record<string, number>;

function typed(vb: snmp.Varbind): SnmpValue {
  if (snmp.isVarbindError(vb)) return { kind: 'missing' };
  const v = vb.value;
  switch (vb.type) {
    case T['Counter32']:
      return { kind: 'counter', bits: 32, value: BigInt(v as number) };
    case T['Counter64']:
      return {
        kind: 'counter',
        bits: 64,
        value: Buffer.isBuffer(v) ? bufferToBigInt(v) : BigInt(v as number),
      };
    case T['Integer']:
    case T['Gauge']:
    case T['TimeTicks']:
      return { kind: 'number', value: v as number };
    case T['OctetString']: {
      const raw = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
      return { kind: 'string', value: raw.toString('utf8'), raw };
    }
    default:
      return { kind: 'missing' };
  }
}

function bufferToBigInt(b: Buffer): bigint {
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  return n;
}

function openSession(d: SnmpDevice): snmp.Session {
  const options: snmp.SessionOptions = {
    port: d.port,
    timeout: d.timeoutMs,
    retries: d.retries,
    transport: d.address.includes(':') ? 'udp6' : 'udp4',
  };
  if (d.version === '2c') {
    return snmp.createSession(d.address, d.community ?? 'public', { ...options, version: snmp.Version2c });
  }
  const u = d.user;
  if (u === undefined) throw new Error(`device ${d.id}: SNMPv3 needs a user`);
  return snmp.createV3Session(
    d.address,
    {
      name: u.name,
      level: snmp.SecurityLevel[u.level],
      ...(u.authProtocol === undefined ? {} : { authProtocol: snmp.AuthProtocols[u.authProtocol] }),
      ...(u.authKey === undefined ? {} : { authKey: u.authKey }),
      ...(u.privProtocol === undefined ? {} : { privProtocol: snmp.PrivProtocols[u.privProtocol] }),
      ...(u.privKey === undefined ? {} : { privKey: u.privKey }),
    },
    { ...options, version: snmp.Version3 },
  );
}

export class SnmpSession {
  private readonly session: snmp.Session;

  constructor(
    device: SnmpDevice,
    private readonly now: () => number = Date.now,
  ) {
    this.session = openSession(device);
    // A socket error fails the pending requests through their callbacks; keep it from crashing us.
    this.session.on('error', () => undefined);
  }

  get(oids: string[]): Promise<SnmpAnswer<SnmpVarbind[]>> {
    return new Promise((resolve, reject) => {
      this.session.get(oids, (err, vbs) => {
        if (err !== null) reject(err);
        else resolve({ varbinds: vbs.map((vb) => ({ oid: vb.oid, value: typed(vb) })), atMs: this.now() });
      });
    });
  }

  /** GETBULK: `nonRepeaters` single answers, then up to `maxRepetitions` successors of each other OID. */
  getBulk(
    oids: string[],
    nonRepeaters: number,
    maxRepetitions: number,
  ): Promise<SnmpAnswer<{ single: SnmpVarbind[]; columns: SnmpVarbind[][] }>> {
    return new Promise((resolve, reject) => {
      this.session.getBulk(oids, nonRepeaters, maxRepetitions, (err, vbs) => {
        if (err !== null) return reject(err);
        const atMs = this.now();
        const one = (vb: snmp.Varbind): SnmpVarbind => ({ oid: vb.oid, value: typed(vb) });
        const single = (vbs.slice(0, nonRepeaters) as snmp.Varbind[]).map(one);
        const columns = (vbs.slice(nonRepeaters) as snmp.Varbind[][]).map((col) =>
          (Array.isArray(col) ? col : [col]).filter((vb) => !isEnd(vb)).map(one),
        );
        resolve({ varbinds: { single, columns }, atMs });
      });
    });
  }

  close(): void {
    try {
      this.session.close();
    } catch {
      // already closed
    }
  }
}

function isEnd(vb: snmp.Varbind): boolean {
  return vb.type === T['EndOfMibView'] || vb.type === T['NoSuchObject'] || vb.type === T['NoSuchInstance'];
}
