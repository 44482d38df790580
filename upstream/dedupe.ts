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
import { putMeta, type MetaOp, type SampleStore } from './store/index.js';

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
