/**
 * Polls one device: the interface table (64-bit ifXTable counters where the
 * device has them, else ifTable's 32-bit ones), oper status and speed, plus
 * the device's custom OIDs; turns counters into rates (counter-rate.ts) and
 * says when the device goes silent or answers again. A silent device yields
 * `snmp.up = 0` and nothing else: never a stale rate with a fresh timestamp.
 */
import type { BatchSample } from '../../protocol/index.js';
import { counterRate, restarted, type CounterReading } from './counter-rate.js';
import type { SnmpDevice } from './device.js';
import { walkColumns, type CellReading, type WalkedColumns } from './column-walk.js';
import type { SnmpSession, SnmpValue } from './snmp-session.js';

const IF = '1.3.6.1.2.1.2.2.1';
const IFX = '1.3.6.1.2.1.31.1.1.1';
const SYS_UPTIME_0 = '1.3.6.1.2.1.1.3.0';

/** Counter metrics (v3's names): the ifTable column and, where one exists, its 64-bit ifXTable column. */
const COUNTERS: ReadonlyArray<[metric: string, ifCol: number, ifxCol: number | undefined]> = [
  ['inOctets', 10, 6],
  ['inUcastPkts', 11, 7],
  ['inDiscards', 13, undefined],
  ['inErrors', 14, undefined],
  ['inUnknownProtos', 15, undefined],
  ['outOctets', 16, 10],
  ['outUcastPkts', 17, 11],
  ['outDiscards', 19, undefined],
  ['outErrors', 20, undefined],
];
const IF_DESCR = `${IF}.2`;
const IF_SPEED = `${IF}.5`;
const IF_MAC = `${IF}.6`;
const IF_OPER = `${IF}.8`;
const IFX_NAME = `${IFX}.1`;
const IFX_HIGH_SPEED = `${IFX}.15`;

/** What names and describes the interfaces: walked on the first poll, every TABLE_EVERY polls, and when an index is new. */
const TABLE_COLUMNS = [IF_DESCR, IF_SPEED, IF_MAC, IFX_NAME, IFX_HIGH_SPEED];
const TABLE_EVERY = 10;
/** Counters only ifTable has, and those ifXTable has in 64 bits (ifTable's 32-bit twins are left out once ifXTable answers). */
/** The counters with their column OIDs and sample names spelled out once (they are looked up per interface per poll). */
const COUNTER_COLUMNS = COUNTERS.map(([metric, ifCol, ifxCol]) => ({
  metric,
  sample: `if.${metric}`,
  ifColumn: `${IF}.${ifCol}`,
  ifxColumn: ifxCol === undefined ? undefined : `${IFX}.${ifxCol}`,
}));
const IF_ONLY = COUNTERS.filter(([, , x]) => x === undefined).map(([, c]) => `${IF}.${c}`);
const IF_32 = COUNTERS.filter(([, , x]) => x !== undefined).map(([, c]) => `${IF}.${c}`);
const IFX_64 = COUNTERS.flatMap(([, , x]) => (x === undefined ? [] : [`${IFX}.${x}`]));

/** One row of the interface table as the upstream's inventory holds it (v3 NetDevice interfaces). */
export interface InterfaceRow {
  index: number;
  name: string;
  /** 1 up, 2 down, … (IF-MIB ifOperStatus). */
  status: number;
  mac: string;
  /** bits per second. */
  speed: number;
}

export interface PollResult {
  /** Whether the device answered this poll. */
  up: boolean;
  samples: BatchSample[];
  /** The interface table, when it differs from the last one reported (and on the first answer). */
  interfaces: InterfaceRow[] | undefined;
  /** This answer only primed the counters (first poll, or the device restarted). */
  primed: boolean;
  /** Why the poll failed, when it did. */
  error: string | undefined;
  requests: number;
  /** Values the device sent for this poll (the table walk's cells and the custom OIDs). */
  varbinds: number;
}

export class DevicePoller {
  private readonly last = new Map<string, CounterReading>();
  private lastTable = '';
  private lastUptime: number | undefined;
  /** Whether the device has ifXTable's 64-bit counters: unknown until its first answer. */
  private hasIfX: boolean | undefined;
  /** The interface table's naming columns as last walked. */
  private table: WalkedColumns = new Map();
  private pollsSinceTable = TABLE_EVERY;
  /** The tags of the device's own samples (snmp.up, custom OIDs). */
  private readonly deviceTags: Record<string, string>;

  constructor(
    readonly device: SnmpDevice,
    private readonly session: SnmpSession,
  ) {
    this.deviceTags = { device: device.id };
  }

  async poll(): Promise<PollResult> {
    let walked: { cells: WalkedColumns; requests: number; varbinds: number };
    let custom: { values: Map<string, CellReading> };
    try {
      walked = await this.walk();
      custom = await this.customOids();
    } catch (err) {
      return this.silent((err as Error).message);
    }
    const firstUptime = [...(walked.cells.get(IF_OPER)?.values() ?? [])][0]?.uptime;
    const restart =
      this.lastUptime !== undefined && firstUptime !== undefined && restarted(this.lastUptime, firstUptime);
    if (firstUptime !== undefined) this.lastUptime = firstUptime;
    const samples: BatchSample[] = [];
    let primed = restart || this.last.size === 0;
    const rows = interfaceRows(walked.cells);
    for (const row of rows) primed = this.interfaceSamples(row, walked.cells, samples) || primed;
    for (const [name, reading] of custom.values) {
      const s = this.valueSample(`snmp.${name}`, `custom:${name}`, reading, this.deviceTags);
      if (s === undefined) primed = true;
      else samples.push(s);
    }
    const at = [...custom.values.values()][0]?.atMs ?? Date.now();
    samples.push(this.sample('snmp.up', 1, at, this.deviceTags));
    const table = JSON.stringify(rows);
    const interfaces = table === this.lastTable ? undefined : rows;
    this.lastTable = table;
    return {
      up: true,
      samples,
      interfaces,
      primed,
      error: undefined,
      requests: walked.requests + 1,
      varbinds: walked.varbinds + custom.values.size + 1,
    };
  }

  /**
   * One walk of the counters and oper status, with the naming columns when due (a fifth of a
   * poll's varbinds are counters' 32-bit twins and names that rarely change: left out, a poll
   * costs about half).
   */
  private async walk(): Promise<{ cells: WalkedColumns; requests: number; varbinds: number }> {
    const counters =
      this.hasIfX === true
        ? [...IF_ONLY, ...IFX_64]
        : this.hasIfX === false
          ? [...IF_ONLY, ...IF_32]
          : [...IF_ONLY, ...IF_32, ...IFX_64];
    const withTable = this.pollsSinceTable >= TABLE_EVERY;
    const walked = await walkColumns(this.session, [
      IF_OPER,
      ...counters,
      ...(withTable ? TABLE_COLUMNS : []),
    ]);
    let requests = walked.requests;
    let varbinds = cellCount(walked.cells);
    if (this.hasIfX === undefined) this.hasIfX = (walked.cells.get(IFX_64[0] as string)?.size ?? 0) > 0;
    if (withTable) this.keepTable(walked.cells);
    else if (
      [...(walked.cells.get(IF_OPER)?.keys() ?? [])].some((idx) => !this.table.get(IF_DESCR)?.has(idx))
    ) {
      // An interface appeared since the table was walked: name it now.
      const table = await walkColumns(this.session, TABLE_COLUMNS);
      requests += table.requests;
      varbinds += cellCount(table.cells);
      this.keepTable(table.cells);
    } else this.pollsSinceTable++;
    for (const [column, cells] of this.table) walked.cells.set(column, cells);
    return { cells: walked.cells, requests, varbinds };
  }

  private keepTable(cells: WalkedColumns): void {
    this.table = new Map(TABLE_COLUMNS.map((c) => [c, cells.get(c) ?? new Map()]));
    this.pollsSinceTable = 1;
  }

  private silent(error: string): PollResult {
    return {
      up: false,
      samples: [this.sample('snmp.up', 0, Date.now(), this.deviceTags)],
      interfaces: undefined,
      primed: false,
      error,
      requests: 0,
      varbinds: 0,
    };
  }

  /** sysUpTime and the custom OIDs in one GET. */
  private async customOids(): Promise<{ values: Map<string, CellReading> }> {
    const oids = this.device.customOids.map((c) => c.oid.replace(/^\./, ''));
    const { varbinds, atMs } = await this.session.get([SYS_UPTIME_0, ...oids]);
    const up = varbinds[0]?.value;
    const uptime = up?.kind === 'number' ? up.value : 0;
    const values = new Map<string, CellReading>();
    this.device.customOids.forEach((c, i) => {
      const value = varbinds[i + 1]?.value;
      if (value !== undefined && value.kind !== 'missing') values.set(c.name, { value, atMs, uptime });
    });
    return { values };
  }

  /** Samples of one interface; true when a counter only primed. */
  private interfaceSamples(row: InterfaceRow, cells: WalkedColumns, out: BatchSample[]): boolean {
    const idx = String(row.index);
    const tags = { device: this.device.id, ifName: row.name, ifIndex: idx };
    let primed = false;
    for (const c of COUNTER_COLUMNS) {
      const hc = c.ifxColumn === undefined ? undefined : cells.get(c.ifxColumn)?.get(idx);
      const reading = hc ?? cells.get(c.ifColumn)?.get(idx);
      if (reading === undefined) continue;
      const s = this.valueSample(c.sample, idx + c.metric, reading, tags);
      if (s === undefined) primed = true;
      else out.push(s);
    }
    const oper = cells.get(IF_OPER)?.get(idx);
    if (oper !== undefined) out.push(this.sample('if.operStatus', row.status, oper.atMs, tags));
    if (oper !== undefined) out.push(this.sample('if.speed', row.speed, oper.atMs, tags));
    return primed;
  }

  /** A gauge as it is, a counter as its rate; undefined while a counter primes. */
  private valueSample(
    metric: string,
    key: string,
    r: CellReading,
    tags: Record<string, string>,
  ): BatchSample | undefined {
    if (r.value.kind === 'number') return this.sample(metric, r.value.value, r.atMs, tags);
    if (r.value.kind !== 'counter') return undefined;
    const cur: CounterReading = { value: r.value.value, bits: r.value.bits, atMs: r.atMs, uptime: r.uptime };
    const rate = counterRate(this.last.get(key), cur);
    this.last.set(key, cur);
    return rate.kind === 'rate' ? this.sample(metric, rate.perSecond, r.atMs, tags) : undefined;
  }

  /** `tags` must hold `device`: one object per interface, shared by its samples. */
  private sample(metric: string, value: number, atMs: number, tags: Record<string, string>): BatchSample {
    return {
      uuid: this.device.id,
      metric,
      value,
      timestamp_ms: atMs,
      tags,
    };
  }
}

/** The interface table from the walked columns, in index order. */
function interfaceRows(cells: WalkedColumns): InterfaceRow[] {
  const oper = cells.get(IF_OPER) ?? new Map<string, CellReading>();
  return [...oper.keys()]
    .map((idx) => {
      const name = str(cells.get(IFX_NAME)?.get(idx)?.value) || str(cells.get(IF_DESCR)?.get(idx)?.value);
      const high = num(cells.get(IFX_HIGH_SPEED)?.get(idx)?.value);
      const speed = high > 0 ? high * 1_000_000 : num(cells.get(IF_SPEED)?.get(idx)?.value);
      const macRaw = cells.get(IF_MAC)?.get(idx)?.value;
      const mac =
        macRaw?.kind === 'string'
          ? [...macRaw.raw].map((b) => b.toString(16).padStart(2, '0')).join(':')
          : '';
      return { index: Number(idx), name, status: num(oper.get(idx)?.value), mac, speed };
    })
    .sort((a, b) => a.index - b.index);
}

function str(v: SnmpValue | undefined): string {
  return v?.kind === 'string' ? v.value : '';
}

function num(v: SnmpValue | undefined): number {
  if (v?.kind === 'number') return v.value;
  if (v?.kind === 'counter') return Number(v.value);
  return 0;
}

function cellCount(cells: WalkedColumns): number {
  let n = 0;
  for (const column of cells.values()) n += column.size;
  return n;
}
