/**
 * Walk table columns with GETBULK, all columns in one request, each request
 * carrying sysUpTime as its non-repeater: every value comes with the time its
 * response arrived and the device's uptime in that same response, so a rate
 * is measured over the time between the two responses that carried the
 * counter, and a device restart is seen in the very answer that shows it.
 * (v3 forked snmpwalk per column and walked with GETNEXT: ~450 round trips a
 * device where this takes a handful.)
 */
import type { SnmpSession, SnmpValue } from './snmp-session.js';

/** sysUpTime's column: GETBULK's non-repeater answers with its successor, sysUpTime.0. */
const SYS_UPTIME = '1.3.6.1.2.1.1.3';

export interface CellReading {
  value: SnmpValue;
  atMs: number;
  /** sysUpTime (hundredths of a second) in the same response. */
  uptime: number;
}

/** column OID → row index (the OID suffix) → reading. */
export type WalkedColumns = Map<string, Map<string, CellReading>>;

/** A bound on one walk, so a misbehaving agent (an endless or looping table) cannot keep a poll busy. */
const MAX_REQUESTS = 500;

export async function walkColumns(
  session: SnmpSession,
  columns: readonly string[],
  maxRepetitions = 16,
): Promise<{ cells: WalkedColumns; requests: number }> {
  const cells: WalkedColumns = new Map(columns.map((c) => [c, new Map()]));
  let active = columns.map((column) => ({ column, cursor: column }));
  let requests = 0;
  while (active.length > 0 && requests < MAX_REQUESTS) {
    const { varbinds, atMs } = await session.getBulk(
      [SYS_UPTIME, ...active.map((a) => a.cursor)],
      1,
      maxRepetitions,
    );
    requests++;
    const up = varbinds.single[0]?.value;
    const uptime = up?.kind === 'number' ? up.value : 0;
    active = active.filter((a, i) => {
      const got = varbinds.columns[i] ?? [];
      const column = cells.get(a.column) as Map<string, CellReading>;
      const prefix = a.column + '.';
      // Within one answer OIDs increase (the agent's order); across answers the walk must move on.
      if (got.length === 0 || !after(got[0]!.oid, a.cursor)) return false;
      for (const vb of got) {
        if (!vb.oid.startsWith(prefix)) return false;
        column.set(vb.oid.slice(prefix.length), { value: vb.value, atMs, uptime });
        a.cursor = vb.oid;
      }
      return true;
    });
  }
  return { cells, requests };
}

/**
 * `oid` sorts after `than` (by arcs, as numbers): a walk that does not move forward stops.
 * Without allocating: it runs for every varbind of every poll.
 */
export function after(oid: string, than: string): boolean {
  let i = 0;
  let j = 0;
  while (i < oid.length && j < than.length) {
    let a = 0;
    while (i < oid.length && oid.charCodeAt(i) !== 46) a = a * 10 + oid.charCodeAt(i++) - 48;
    let b = 0;
    while (j < than.length && than.charCodeAt(j) !== 46) b = b * 10 + than.charCodeAt(j++) - 48;
    if (a !== b) return a > b;
    i++;
    j++;
  }
  return i < oid.length;
}
