/**
 * One OWL point's series as a Prometheus label set (`__name__` first, then labels sorted by
 * name, as remote_write receivers expect). A point that cannot be mapped without merging two
 * series is refused with a counted reason; nothing is silently truncated.
 */
import type { StorePoint } from '../store/index.js';
import { promLabelName, promMetricName } from './names.js';

/**
 * VictoriaMetrics' default `-maxLabelsPerTimeseries` is 30 (it drops the extra labels); we refuse
 * the point instead, counting `__name__` and the extra labels.
 */
export const DEFAULT_MAX_LABELS_PER_SERIES = 30;

export type PromDropReason = 'too_many_labels' | 'bad_label_name';

export interface PromLabel {
  name: string;
  value: string;
}

export interface PromNaming {
  /** Metric name prefix; `owl_` by default, may be ''. */
  prefix: string;
  /** Added to every series unless the point has a label of that name (Prometheus' external_labels rule). */
  extraLabels: Readonly<Record<string, string>>;
  maxLabelsPerSeries: number;
}

export type PromSeries = { ok: true; labels: PromLabel[] } | { ok: false; reason: PromDropReason };

/**
 * Tags with an empty value are left out: Prometheus treats an empty label as an absent one.
 * Extra label names are taken as given (the config validates them with `PROM_LABEL_NAME`).
 */
export function promSeries(point: Pick<StorePoint, 'metric' | 'tags'>, naming: PromNaming): PromSeries {
  const labels: PromLabel[] = [];
  const seen = new Set<string>();
  for (const [tag, value] of Object.entries(point.tags)) {
    const name = promLabelName(tag);
    if (name === undefined || name === '__name__') return { ok: false, reason: 'bad_label_name' };
    seen.add(name);
    if (value !== '') labels.push({ name, value });
  }
  for (const [name, value] of Object.entries(naming.extraLabels)) {
    if (!seen.has(name) && value !== '') labels.push({ name, value });
  }
  if (labels.length + 1 > naming.maxLabelsPerSeries) return { ok: false, reason: 'too_many_labels' };
  labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  labels.unshift({ name: '__name__', value: promMetricName(point.metric, naming.prefix) });
  return { ok: true, labels };
}
