/**
 * A set of non-negative integers kept as sorted, merged, non-overlapping
 * inclusive ranges. Adjacent ranges merge ([1,3] + [4,6] = [1,6]), so `size`
 * (the number of ranges) stays small when numbers arrive roughly in order,
 * whatever the count of numbers. Two parallel arrays and binary search:
 * has/covers are O(log n); add is O(log n) plus the splice.
 */
import { UplinkError, UplinkErrorCode } from './errors.js';
import type { SeqRange } from './messages.js';

export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];

  /** Number of disjoint ranges. */
  get size(): number {
    return this.starts.length;
  }

  /** Number of integers covered. */
  get count(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++)
      n += (this.ends[i] as number) - (this.starts[i] as number) + 1;
    return n;
  }

  /** Add every integer of [first, last]. */
  add(first: number, last: number): this {
    checkRange(first, last);
    // Ranges lo..hi touch or overlap [first, last]; the ones before lo end below first-1, after hi start past last+1.
    const lo = this.firstEndAtLeast(first - 1);
    const hi = this.countStartAtMost(last + 1) - 1;
    if (lo > hi) {
      this.starts.splice(lo, 0, first);
      this.ends.splice(lo, 0, last);
    } else {
      const start = Math.min(first, this.starts[lo] as number);
      const end = Math.max(last, this.ends[hi] as number);
      this.starts.splice(lo, hi - lo + 1, start);
      this.ends.splice(lo, hi - lo + 1, end);
    }
    return this;
  }

  /** True when every integer of [first, last] is in the set. */
  has(first: number, last: number): boolean {
    checkRange(first, last);
    const i = this.countStartAtMost(first) - 1;
    return i >= 0 && (this.ends[i] as number) >= last;
  }

  /** True when `seq` is in the set. */
  covers(seq: number): boolean {
    return this.has(seq, seq);
  }

  /** True when some integer of [first, last] is in the set. */
  overlaps(first: number, last: number): boolean {
    checkRange(first, last);
    const i = this.firstEndAtLeast(first);
    return i < this.starts.length && (this.starts[i] as number) <= last;
  }

  /** The smallest integer >= n not in the set. */
  firstGapFrom(n: number): number {
    checkRange(n, n);
    const i = this.countStartAtMost(n) - 1;
    return i >= 0 && (this.ends[i] as number) >= n ? (this.ends[i] as number) + 1 : n;
  }

  /** The ranges, ascending: `[[first, last], ...]`. */
  toJSON(): [number, number][] {
    return this.starts.map((s, i) => [s, this.ends[i] as number]);
  }

  /** Rebuild from toJSON() output (any order, overlaps merged). Throws OWL_ERR_UPLINK_BAD_FIELD on bad input. */
  static fromJSON(value: unknown): RangeSet {
    if (!Array.isArray(value)) throw new UplinkError(UplinkErrorCode.BAD_FIELD, 'range set is not an array');
    const set = new RangeSet();
    value.forEach((pair: unknown, i) => {
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        !isUint(pair[0]) ||
        !isUint(pair[1]) ||
        pair[0] > pair[1]
      ) {
        throw new UplinkError(UplinkErrorCode.BAD_FIELD, `range ${i} is not [first, last]`, `/${i}`);
      }
      set.add(pair[0], pair[1]);
    });
    return set;
  }

  /** A RangeSet holding `ranges`. */
  static of(...ranges: SeqRange[]): RangeSet {
    const set = new RangeSet();
    for (const [first, last] of ranges) set.add(first, last);
    return set;
  }

  /** Index of the first range whose end is >= x (size when none). */
  private firstEndAtLeast(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ends[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Number of ranges whose start is <= x. */
  private countStartAtMost(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.starts[mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function checkRange(first: number, last: number): void {
  if (!isUint(first) || !isUint(last) || first > last) throw new RangeError(`bad range ${first}..${last}`);
}
