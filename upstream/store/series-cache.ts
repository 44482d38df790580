/**
 * Bounded series id cache, keyed by (tag suffix, metric): the write path
 * looks up a tag set once per run of points sharing one tags object (a relay
 * record carries one host's samples) and then only hashes the short metric
 * name per point. Two generations make it approximately LRU at the cost of
 * one or two Map lookups: hits in the previous generation are promoted; when
 * the current one holds `max / 2` entries it becomes the previous one and the
 * oldest is dropped. Holds at most about `max` entries.
 */
export class SeriesIdCache {
  private cur = new Map<string, Map<string, number>>();
  private old = new Map<string, Map<string, number>>();
  private curEntries = 0;
  private readonly generation: number;

  constructor(max: number) {
    this.generation = Math.max(1, Math.floor(max / 2));
  }

  /** The ids known for one tag suffix, current generation first. */
  lookup(suffix: string): TagEntry {
    return new TagEntry(this, this.cur.get(suffix), this.old.get(suffix), suffix);
  }

  get(suffix: string, metric: string): number | undefined {
    return this.lookup(suffix).get(metric);
  }

  set(suffix: string, metric: string, id: number): void {
    let m = this.cur.get(suffix);
    if (m?.has(metric)) {
      m.set(metric, id);
      return;
    }
    if (this.curEntries >= this.generation) {
      this.old = this.cur;
      this.cur = new Map();
      this.curEntries = 0;
      m = undefined;
    }
    if (m === undefined) {
      m = new Map();
      this.cur.set(suffix, m);
    }
    m.set(metric, id);
    this.curEntries++;
  }

  delete(suffix: string, metric: string): void {
    if (this.cur.get(suffix)?.delete(metric)) this.curEntries--;
    this.old.get(suffix)?.delete(metric);
  }
}

/** A lookup handle for one tag suffix, reused across the points that share it. */
export class TagEntry {
  constructor(
    private readonly cache: SeriesIdCache,
    private readonly cur: Map<string, number> | undefined,
    private readonly old: Map<string, number> | undefined,
    private readonly suffix: string,
  ) {}

  get(metric: string): number | undefined {
    const v = this.cur?.get(metric);
    if (v !== undefined) return v;
    const o = this.old?.get(metric);
    if (o !== undefined) this.cache.set(this.suffix, metric, o);
    return o;
  }
}
