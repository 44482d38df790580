/**
 * Points → an OpenTSDB `/api/put` JSON body: an array of
 * `{ metric, timestamp (ms), value, tags }`. Names keep their v3 form (see names.ts).
 * OpenTSDB wants at least one tag per point: a point left with none (no tags, no extra tags)
 * is refused with a counted reason; so is one over the tag limit.
 */
import type { StorePoint } from '../store/index.js';
import { opentsdbName } from './names.js';

/** OpenTSDB's default `tsd.storage.max_tags` is 8; configurable. */
export const DEFAULT_OPENTSDB_MAX_TAGS = 8;

export type OpenTsdbDropReason = 'no_tags' | 'too_many_tags';

export interface OpenTsdbNaming {
  /** Added to every point unless it has a tag of that name. */
  extraTags: Readonly<Record<string, string>>;
  maxTags: number;
}

export interface OpenTsdbPut {
  metric: string;
  timestamp: number;
  value: number;
  tags: Record<string, string>;
}

export interface EncodedPut {
  body: string;
  samples: number;
  dropped: Partial<Record<OpenTsdbDropReason, number>>;
}

function tsdbTags(point: StorePoint, naming: OpenTsdbNaming): Record<string, string> {
  const tags: Record<string, string> = {};
  // OpenTSDB refuses empty tag values; an empty tag is dropped, as for Prometheus.
  for (const [k, v] of Object.entries(point.tags)) if (v !== '') tags[opentsdbName(k)] = opentsdbName(v);
  for (const [k, v] of Object.entries(naming.extraTags)) if (!(k in tags) && v !== '') tags[k] = v;
  return tags;
}

export function encodeOpenTsdb(points: readonly StorePoint[], naming: OpenTsdbNaming): EncodedPut {
  const out: OpenTsdbPut[] = [];
  const dropped: EncodedPut['dropped'] = {};
  for (const p of points) {
    const tags = tsdbTags(p, naming);
    const n = Object.keys(tags).length;
    const reason: OpenTsdbDropReason | undefined =
      n === 0 ? 'no_tags' : n > naming.maxTags ? 'too_many_tags' : undefined;
    if (reason !== undefined) {
      dropped[reason] = (dropped[reason] ?? 0) + 1;
      continue;
    }
    out.push({ metric: opentsdbName(p.metric), timestamp: p.timestampMs, value: p.value, tags });
  }
  return { body: JSON.stringify(out), samples: out.length, dropped };
}
