/**
 * Points acknowledged (durable in log records) but not yet folded into
 * blocks, per series id, in arrival order. Memory is bounded by the store's
 * checkpoint threshold (`maxPendingPoints`): about 16 bytes per point.
 */

class SeriesPending {
  readonly ts: number[] = [];
  readonly vals: number[] = [];
}

export class PendingSet {
  readonly series = new Map<number, SeriesPending>();
  /** Log record sequence numbers whose points are all in this set. */
  readonly seqs: number[] = [];
  points = 0;
  /** Points of this set's writes marked `countSamples`. */
  samples = 0;

  add(id: number, ts: number, value: number): void {
    let s = this.series.get(id);
    if (s === undefined) {
      s = new SeriesPending();
      this.series.set(id, s);
    }
    s.ts.push(ts);
    s.vals.push(value);
    this.points++;
  }

  /** Append this set's points of series `id` with fromMs <= t < toMs to the output arrays. */
  collect(id: number, fromMs: number, toMs: number, outTs: number[], outVals: number[]): void {
    const s = this.series.get(id);
    if (s === undefined) return;
    const { ts, vals } = s;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i] as number;
      if (t >= fromMs && t < toMs) {
        outTs.push(t);
        outVals.push(vals[i] as number);
      }
    }
  }

  /** True when series `id` has a point with t < cutoffMs. */
  hasOlderThan(id: number, cutoffMs: number): boolean {
    const s = this.series.get(id);
    if (s === undefined) return false;
    for (const t of s.ts) if (t < cutoffMs) return true;
    return false;
  }
}

/**
 * Sort points by time, keeping only the last-arriving point of each
 * timestamp (last write wins). Returns the inputs unchanged when they
 * already ascend strictly.
 */
export function normalize(ts: number[], vals: number[]): { ts: number[]; vals: number[] } {
  const n = ts.length;
  let ascending = true;
  for (let i = 1; i < n; i++) {
    if ((ts[i] as number) <= (ts[i - 1] as number)) {
      ascending = false;
      break;
    }
  }
  if (ascending) return { ts, vals };
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b);
  const outTs: number[] = [];
  const outVals: number[] = [];
  for (let j = 0; j < n; j++) {
    const i = idx[j] as number;
    const next = idx[j + 1];
    if (next !== undefined && ts[next] === ts[i]) continue;
    outTs.push(ts[i] as number);
    outVals.push(vals[i] as number);
  }
  return { ts: outTs, vals: outVals };
}

/** Merge two strictly ascending point lists; on equal timestamps `b` wins. */
export function mergeSorted(
  aTs: number[],
  aVals: number[],
  bTs: number[],
  bVals: number[],
): { ts: number[]; vals: number[] } {
  if (bTs.length === 0) return { ts: aTs, vals: aVals };
  if (aTs.length === 0) return { ts: bTs, vals: bVals };
  const ts: number[] = [];
  const vals: number[] = [];
  let i = 0;
  let j = 0;
  while (i < aTs.length || j < bTs.length) {
    const ta = i < aTs.length ? (aTs[i] as number) : Infinity;
    const tb = j < bTs.length ? (bTs[j] as number) : Infinity;
    if (ta < tb) {
      ts.push(ta);
      vals.push(aVals[i++] as number);
    } else {
      ts.push(tb);
      vals.push(bVals[j++] as number);
      if (ta === tb) i++;
    }
  }
  return { ts, vals };
}
