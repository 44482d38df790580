/**
 * The built-in collectors' rounds: every collector read once per round,
 * counters turned into rates over the measured gap (one tracker per
 * collector, so its first round primes and sends only gauges), samples under
 * the collector's name as service. A collector that fails is logged when it
 * starts and stops failing, not every round, and never stops the others.
 */
import type { BatchSample, Timers } from '../protocol/wire/index.js';
import type { Collector, Reading } from './collectors/index.js';
import type { AgentLogger } from './log.js';
import { RateTracker, ratesFromReadings } from './rates.js';

export interface CollectorRound {
  /** Collectors that failed this round, with the reason. */
  failed: Record<string, string>;
  samples: number;
}

export class CollectorRunner {
  private readonly trackers = new Map<string, RateTracker>();
  private readonly failing = new Set<string>();
  private rounds = 0;
  last: CollectorRound | undefined;

  /** `every`: a collector named there runs every that many rounds (the first round runs them all). */
  constructor(
    private readonly collectors: readonly Collector[],
    private readonly timers: Timers,
    private readonly logger: AgentLogger,
    private readonly every: ReadonlyMap<string, number> = new Map(),
  ) {}

  /** One round; `raw` sends counters as read (for `owl-agent once`, which has no previous round). */
  async round(raw = false): Promise<BatchSample[]> {
    const at = this.timers.now();
    const n = this.rounds++;
    const due = this.collectors.filter((c) => n % (this.every.get(c.name) ?? 1) === 0);
    const results = await Promise.allSettled(due.map((c) => c.read()));
    const out: BatchSample[] = [];
    const failed: Record<string, string> = {};
    for (const [i, result] of results.entries()) {
      const c = due[i]!;
      if (result.status === 'rejected') {
        failed[c.name] = (result.reason as Error)?.message ?? String(result.reason);
        this.noteFailure(c.name, failed[c.name]);
        continue;
      }
      this.noteFailure(c.name, undefined);
      const readings = raw ? result.value : ratesFromReadings(this.tracker(c.name), result.value, at);
      for (const r of readings) out.push(toSample(c.name, r, at));
    }
    this.last = { failed, samples: out.length };
    return out;
  }

  private tracker(name: string): RateTracker {
    let t = this.trackers.get(name);
    if (!t) this.trackers.set(name, (t = new RateTracker()));
    return t;
  }

  private noteFailure(name: string, reason: string | undefined): void {
    if (reason !== undefined && !this.failing.has(name)) {
      this.failing.add(name);
      this.logger.warn({ collector: name, reason }, 'collector failing');
    } else if (reason === undefined && this.failing.delete(name)) {
      this.logger.info({ collector: name }, 'collector working again');
    }
  }
}

function toSample(service: string, r: Reading, at: number): BatchSample {
  const s: BatchSample = {
    service_name: service,
    metric: r.metric,
    value: r.value,
    timestamp_ms: at,
    data_type: r.kind === 'counter' ? 'COUNTER' : 'GAUGE',
  };
  if (r.tags) s.tags = r.tags;
  return s;
}
