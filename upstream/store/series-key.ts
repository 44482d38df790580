/**
 * Canonical series keys: `metric NUL k1 NUL v1 NUL k2 NUL v2 ...` with tags
 * sorted by key, so one series has exactly one key whatever the tag order,
 * and all series of a metric share the prefix `metric NUL` (listing and
 * querying a metric is one prefix scan of the dictionary). NUL is therefore
 * forbidden in metric names, tag keys and tag values.
 */
import { StoreError, StoreErrorCode } from './errors.js';

export const SEP = '\u0000';

export interface SeriesKeyLimits {
  maxMetricChars: number;
  maxTags: number;
  maxTagChars: number;
}

export const DEFAULT_SERIES_LIMITS: SeriesKeyLimits = { maxMetricChars: 256, maxTags: 32, maxTagChars: 256 };

function bad(message: string): StoreError {
  return new StoreError(StoreErrorCode.BAD_POINT, message);
}

/** Check a metric name: non-empty string without NUL, within the limit. */
export function checkMetric(metric: unknown, limits: SeriesKeyLimits): string {
  if (typeof metric !== 'string' || metric.length === 0 || metric.length > limits.maxMetricChars) {
    throw bad('metric must be a non-empty string within the length limit');
  }
  if (metric.includes(SEP)) throw bad('metric contains NUL');
  return metric;
}

/**
 * The tag part of a series key (`k1 NUL v1 NUL k2 NUL v2`, sorted by key,
 * empty without tags); validates the tags. The full key is
 * `metric NUL suffix`.
 */
export function tagSuffix(tags: unknown, limits: SeriesKeyLimits = DEFAULT_SERIES_LIMITS): string {
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw bad('tags must be an object');
  const names = Object.keys(tags);
  if (names.length > limits.maxTags) throw bad('too many tags');
  if (names.length > 1) names.sort();
  let suffix = '';
  for (let i = 0; i < names.length; i++) {
    const k = names[i] as string;
    const v = (tags as Record<string, unknown>)[k];
    if (typeof v !== 'string') throw bad(`tag ${k} is not a string`);
    if (k.length === 0 || k.length > limits.maxTagChars || v.length > limits.maxTagChars) {
      throw bad(`tag ${k} is empty or too long`);
    }
    if (k.includes(SEP) || v.includes(SEP)) throw bad(`tag ${k} contains NUL`);
    suffix = i === 0 ? k + SEP + v : suffix + SEP + k + SEP + v;
  }
  return suffix;
}

/** The canonical key of (metric, tags); validates both. */
export function seriesKey(
  metric: unknown,
  tags: unknown,
  limits: SeriesKeyLimits = DEFAULT_SERIES_LIMITS,
): string {
  return checkMetric(metric, limits) + SEP + tagSuffix(tags, limits);
}

/** Split a canonical key back into metric and tags. */
export function parseSeriesKey(key: string): { metric: string; tags: Record<string, string> } {
  const parts = key.split(SEP);
  const metric = parts[0] ?? '';
  const entries: Array<[string, string]> = [];
  for (let i = 1; i + 1 < parts.length; i += 2) entries.push([parts[i] as string, parts[i + 1] as string]);
  // fromEntries defines own properties: a tag named __proto__ stays a tag.
  return { metric, tags: Object.fromEntries(entries) };
}

/** True when every filter tag is present in `tags` with the same value. */
export function tagsMatch(
  tags: Readonly<Record<string, string>>,
  filter: Readonly<Record<string, string>>,
): boolean {
  for (const k of Object.keys(filter)) {
    if (!Object.hasOwn(tags, k) || tags[k] !== filter[k]) return false;
  }
  return true;
}
