/**
 * The configured sinks: one client and one runner each, started once the store is open and
 * stopped before it closes; their status for `GET /api/v1/sinks` (URLs without credentials).
 */
import type { Logger } from 'pino';
import type { SinkConfig, UpstreamConfig } from './config.js';
import type { UpstreamMetrics } from './metrics.js';
import { SinkRunner, type SinkRunnerStatus } from './sink-runner.js';
import {
  OpenTsdbClient,
  RemoteWriteClient,
  openTsdbNaming,
  remoteWriteNaming,
  type HttpSinkOptions,
  type SinkEncoding,
} from './sinks/index.js';
import type { ForwardOptions, SampleStore } from './store/index.js';

/** Requests of one read in flight at once, unless a sink's `shards` says otherwise. */
export const DEFAULT_SINK_SHARDS = 2;

export interface SinkView extends SinkRunnerStatus {
  type: SinkConfig['type'];
  url: string;
  lagRecords: number;
  lagSeconds: number;
  droppedRecords: number;
}

/** The store's `forward` option for these sinks, or undefined when there are none. */
export function forwardOptions(config: UpstreamConfig): ForwardOptions | undefined {
  if (config.sinks.length === 0) return undefined;
  return {
    sinks: config.sinks.map((s) => s.name),
    ...config.forward,
    encodings: Object.fromEntries(config.sinks.map((s) => [s.name, encodingOf(s)])),
  };
}

/** How the store encodes this sink's requests (the client's naming, from the same config). */
function encodingOf(s: SinkConfig): SinkEncoding {
  if (s.type === 'opentsdb')
    return {
      type: 'opentsdb',
      naming: openTsdbNaming(s.extraLabels === undefined ? {} : { extraTags: s.extraLabels }),
    };
  return {
    type: 'remote_write',
    naming: remoteWriteNaming({
      ...(s.prefix === undefined ? {} : { prefix: s.prefix }),
      ...(s.extraLabels === undefined ? {} : { extraLabels: s.extraLabels }),
    }),
  };
}

/** A URL as shown to operators: no user name or password in it. */
export function publicUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

function makeClient(s: SinkConfig): RemoteWriteClient | OpenTsdbClient {
  const http: HttpSinkOptions = {
    url: s.url,
    ...(s.basicAuth === undefined ? {} : { basicAuth: s.basicAuth }),
    ...(s.bearerToken === undefined ? {} : { bearerToken: s.bearerToken }),
    ...(s.ca === undefined ? {} : { caFile: s.ca }),
    ...(s.timeoutMs === undefined ? {} : { timeoutMs: s.timeoutMs }),
  };
  if (s.type === 'opentsdb')
    return new OpenTsdbClient({
      ...http,
      ...(s.extraLabels === undefined ? {} : { extraTags: s.extraLabels }),
    });
  return new RemoteWriteClient({
    ...http,
    ...(s.prefix === undefined ? {} : { prefix: s.prefix }),
    ...(s.extraLabels === undefined ? {} : { extraLabels: s.extraLabels }),
  });
}

export class SinkSet {
  private readonly entries: {
    config: SinkConfig;
    client: RemoteWriteClient | OpenTsdbClient;
    runner: SinkRunner;
  }[];

  constructor(
    sinks: readonly SinkConfig[],
    private readonly store: SampleStore,
    log: Logger,
    metrics: UpstreamMetrics,
  ) {
    this.entries = sinks.map((config) => {
      const client = makeClient(config);
      const runner = new SinkRunner({
        name: config.name,
        client,
        store,
        log,
        ...(config.retryMaxMs === undefined ? {} : { retryMaxMs: config.retryMaxMs }),
        shards: config.shards ?? DEFAULT_SINK_SHARDS,
        onSent: (n) => metrics.sinkSamples.inc({ sink: config.name }, n),
        onFailure: (status) => metrics.sinkFailures.inc({ sink: config.name, status }),
      });
      return { config, client, runner };
    });
  }

  start(): void {
    for (const e of this.entries) e.runner.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.runner.stop()));
    for (const e of this.entries) e.client.close();
  }

  /** Each sink's state, cursor, lag and counts. */
  async view(): Promise<SinkView[]> {
    const stats = await this.store.forwardStats();
    return this.entries.map(({ config, runner }) => {
      const s = stats?.perSink.find((p) => p.name === config.name);
      const { name, state, ...counts } = runner.status();
      return {
        name,
        type: config.type,
        url: publicUrl(config.url),
        state,
        ...counts,
        cursor: Math.max(s?.cursor ?? -1, counts.cursor),
        lagRecords: s?.lagRecords ?? 0,
        lagSeconds: (s?.oldestAgeMs ?? 0) / 1000,
        droppedRecords: s?.droppedRecords ?? 0,
      };
    });
  }
}
