/**
 * A built-in collector reads the host from /proc and /sys (never by running
 * a program) and returns raw readings. Counters come back as counters: the
 * agent turns them into rates over the measured gap (agent/rates.ts), the
 * same way as a plugin's COUNTER items, so wraps and resets are handled once.
 */
export interface Reading {
  /** The metric within the collector's service (the sample's `metric`), e.g. `user_pct`, `rx_bytes`. */
  metric: string;
  value: number;
  /** `gauge`: sent as is; `counter`: a monotonically increasing total, sent as a per-second rate. */
  kind: 'gauge' | 'counter';
  /** Which instance: `{cpu: "0"}`, `{device: "sda"}`, `{interface: "eth0"}`, `{mount: "/"}`. */
  tags?: Record<string, string>;
}

export interface Collector {
  /** The service name samples are sent under, e.g. `cpu`, `mem`, `net`. */
  readonly name: string;
  /** One reading of everything this collector sees; rejects only when the source cannot be read at all. */
  read(): Promise<Reading[]>;
}
