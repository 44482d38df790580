/**
 * What has been stored, for exactly-once storage (docs/uplink.md §9).
 *
 * - Per (relay, spool): a RangeSet of relay sequence numbers, meta key
 *   `dd/<relay>/<spool>`.
 * - Per (agent uuid, session): a RangeSet of SERIESBATCH sequence numbers,
 *   meta key `as/<uuid>/<session>`. It catches an agent's resend of a batch a
 *   relay had spooled but not acknowledged before it crashed (the relay's own
 *   memory of recent batches died with it).
 * Both are written in the same store write as the data they describe.
 * Sets are cached in memory (bounded LRU for agent sessions).
 */
import { LRUCache } from 'lru-cache';
import { RangeSet } from '../protocol/index.js';
import type { IngestResult } from './ingest.js';
import { putMeta, type MetaOp, type SampleStore, type StorePoint } from './store/index.js';

export class StoredRanges {
  private readonly relaySets = new Map<string, RangeSet>();
  private readonly sessionSets = new LRUCache<string, RangeSet>({ max: 100_000 });

  constructor(private readonly store: SampleStore) {}

  /** The stored set of (relay, spool), loaded on first use. */
  async relaySet(relay: string, spool: string): Promise<RangeSet> {
    const key = `dd/${relay}/${spool}`;
    let set = this.relaySets.get(key);
    if (set === undefined) {
      set = await this.load(key);
      this.relaySets.set(key, set);
    }
    return set;
  }

  async sessionSet(uuid: string, session: string): Promise<RangeSet> {
    const key = `as/${uuid}/${session}`;
    let set = this.sessionSets.get(key);
    if (set === undefined) {
      set = await this.load(key);
      this.sessionSets.set(key, set);
    }
    return set;
  }

  relayOp(relay: string, spool: string, set: RangeSet): MetaOp {
    return putMeta(`dd/${relay}/${spool}`, JSON.stringify(set.toJSON()));
  }

  sessionOp(uuid: string, session: string, set: RangeSet): MetaOp {
    return putMeta(`as/${uuid}/${session}`, JSON.stringify(set.toJSON()));
  }

  /** Install sets after their write succeeded. */
  commitRelay(relay: string, spool: string, set: RangeSet): void {
    this.relaySets.set(`dd/${relay}/${spool}`, set);
  }

  commitSession(uuid: string, session: string, set: RangeSet): void {
    this.sessionSets.set(`as/${uuid}/${session}`, set);
  }

  private async load(key: string): Promise<RangeSet> {
    const raw = await this.store.getMeta(key);
    return raw === undefined ? new RangeSet() : RangeSet.fromJSON(JSON.parse(raw.toString()) as unknown);
  }
}

/** A copy of `set` (RangeSet has no clone; its JSON round-trips exactly). */
export function cloneRanges(set: RangeSet): RangeSet {
  return RangeSet.fromJSON(set.toJSON());
}

/**
 * The (agent, session) sets one store write changes. `keep()` drops the
 * points of SERIESBATCHes already stored (or earlier in the same write);
 * `ops()` go into that write; `commit()` installs the sets once it succeeded.
 */
export class SessionDraft {
  private readonly sets = new Map<string, { uuid: string; session: string; set: RangeSet }>();

  constructor(private readonly ranges: StoredRanges) {}

  async keep(result: IngestResult): Promise<StorePoint[]> {
    const drop = new Set<number>();
    for (const b of result.batches) {
      const key = `${b.uuid}\u0000${b.session}`;
      let entry = this.sets.get(key);
      if (entry === undefined) {
        entry = {
          uuid: b.uuid,
          session: b.session,
          set: cloneRanges(await this.ranges.sessionSet(b.uuid, b.session)),
        };
        this.sets.set(key, entry);
      }
      if (entry.set.covers(b.seq)) {
        for (let i = b.firstPoint; i < b.firstPoint + b.points; i++) drop.add(i);
      } else {
        entry.set.add(b.seq, b.seq);
      }
    }
    return drop.size === 0 ? result.points : result.points.filter((_, i) => !drop.has(i));
  }

  ops(): MetaOp[] {
    return [...this.sets.values()].map((e) => this.ranges.sessionOp(e.uuid, e.session, e.set));
  }

  commit(): void {
    for (const e of this.sets.values()) this.ranges.commitSession(e.uuid, e.session, e.set);
  }
}
