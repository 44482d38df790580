/**
 * Points → an OpenTSDB `/api/put` JSON body: an array of
 * `{ metric, timestamp (ms), value, tags }`. Names keep their v3 form (see names.ts).
 * OpenTSDB wants at least one tag per point: a point left with none (no tags, no extra tags)
 * is refused with a counted reason; so is one over the tag limit.
 */
import type { StorePoint } from '../store/index.js';
import { opentsdbName } from './names.js';
import {
  MAX_CACHED_SERIES,
  columnsOf,
  countDrop,
  singleBody,
  type EncodedRequests,
  type ForwardColumns,
  type SeriesName,
  type SinkEncoder,
} from './sink-encoder.js';

/** OpenTSDB's default `tsd.storage.max_tags` is 8; configurable. */
export const DEFAULT_OPENTSDB_MAX_TAGS = 8;

export type OpenTsdbDropReason = 'no_tags' | 'too_many_tags';

export interface OpenTsdbNaming {
  /** Added to every point unless it has a tag of that name. */
  extraTags: Readonly<Record<string, string>>;
  maxTags: number;
}

export interface EncodedPut {
  body: string;
  samples: number;
  dropped: Partial<Record<OpenTsdbDropReason, number>>;
}

function tsdbTags(series: SeriesName, naming: OpenTsdbNaming): Record<string, string> {
  const tags: Record<string, string> = {};
  // OpenTSDB refuses empty tag values; an empty tag is dropped, as for Prometheus.
  for (const [k, v] of Object.entries(series.tags)) if (v !== '') tags[opentsdbName(k)] = opentsdbName(v);
  for (const [k, v] of Object.entries(naming.extraTags)) if (!(k in tags) && v !== '') tags[k] = v;
  return tags;
}

type DropReason = OpenTsdbDropReason | 'unknown_series';

/** Each series' JSON up to its timestamp (`{"metric":…,"tags":{…},`), kept by store id. */
export class OpenTsdbEncoder implements SinkEncoder {
  private readonly named = new Map<number, string | { drop: DropReason }>();

  constructor(readonly naming: OpenTsdbNaming) {}

  /** Shards by store id: OpenTSDB takes a series' points in any order. */
  encode(c: ForwardColumns, shards = 1): EncodedRequests {
    if (this.named.size > MAX_CACHED_SERIES) this.named.clear();
    const json: string[][] = Array.from({ length: Math.max(1, shards) }, () => []);
    const dropped: Record<string, number> = {};
    for (let i = 0; i < c.ids.length; i++) {
      const id = c.ids[i] as number;
      let head = this.named.get(id);
      if (head === undefined) {
        head = this.head(c.nameOf(id));
        this.named.set(id, head);
      }
      if (typeof head !== 'string') countDrop(dropped, head.drop);
      else
        (json[id % json.length] as string[]).push(
          `${head}"timestamp":${c.ts[i] as number},"value":${JSON.stringify(c.vals[i])}}`,
        );
    }
    const parts = json
      .filter((p) => p.length > 0)
      .map((p) => ({ body: Buffer.from(`[${p.join(',')}]`), samples: p.length }));
    return { parts, samples: parts.reduce((n, p) => n + p.samples, 0), dropped };
  }

  private head(series: SeriesName | undefined): string | { drop: DropReason } {
    if (series === undefined) return { drop: 'unknown_series' };
    const tags = tsdbTags(series, this.naming);
    const n = Object.keys(tags).length;
    if (n === 0) return { drop: 'no_tags' };
    if (n > this.naming.maxTags) return { drop: 'too_many_tags' };
    return `{"metric":${JSON.stringify(opentsdbName(series.metric))},"tags":${JSON.stringify(tags)},`;
  }
}

/** Points as objects → one `/api/put` body (tests). */
export function encodeOpenTsdb(points: readonly StorePoint[], naming: OpenTsdbNaming): EncodedPut {
  const e = singleBody(new OpenTsdbEncoder(naming).encode(columnsOf(points)));
  return { body: Buffer.from(e.body).toString('utf8'), samples: e.samples, dropped: e.dropped };
}
