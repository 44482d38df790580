/**
 * A plugin run's parsed output as protocol samples: the service's items
 * decide each key's data type, COUNTER/DERIVE go through the service's
 * RateTracker, and keys the server does not know yet are flagged.
 *
 * - Type: an entry's own `data_type` (v4 array output) first, because the
 *   plugin knows what it prints and the server auto-adds unknown keys as
 *   GAUGE items, which would otherwise turn its counters into gauges; then
 *   the item's; then GAUGE.
 * - `flag: 1` when the key is not in `items` (metric auto-discovery).
 * - Time: the entry's own timestamp if it has one, else the start of the run:
 *   runs start on interval boundaries, so consecutive samples are one
 *   interval apart and line up across hosts however long the plugin takes;
 *   rates are measured over the same times.
 */
import type { BatchSample, DataType, Service, ServiceItem } from '../../protocol/wire/index.js';
import { seriesKey, type RateTracker } from '../rates.js';
import type { PluginSample } from './output.js';

export function toBatchSamples(
  service: Service,
  parsed: readonly PluginSample[],
  tracker: RateTracker,
  runStartedAt: number,
): BatchSample[] {
  const out: BatchSample[] = [];
  for (const s of parsed) {
    const item = itemOf(service, s.metric);
    const dataType: DataType = s.data_type ?? item?.data_type ?? 'GAUGE';
    const at = s.timestamp_ms ?? runStartedAt;
    const value = tracker.update(seriesKey(s.metric, s.tags), dataType, s.value, at);
    if (value === undefined) continue;
    const sample: BatchSample = {
      service_name: service.name,
      metric: s.metric,
      value,
      timestamp_ms: at,
      data_type: dataType,
    };
    if (s.tags !== undefined) sample.tags = s.tags;
    if (item === undefined) sample.flag = 1;
    out.push(sample);
  }
  tracker.endRound();
  return out;
}

/** The item for `metric`; own properties only, so a metric named `constructor` is just unknown. */
function itemOf(service: Service, metric: string): ServiceItem | undefined {
  const items = service.items;
  if (items === undefined || items === null || !Object.hasOwn(items, metric)) return undefined;
  return items[metric];
}
