/** Prometheus remote_write 1.0 client (VictoriaMetrics, Prometheus, Mimir, Thanos receive). */
import type { StorePoint } from '../store/index.js';
import { HttpPoster, type HttpSinkOptions } from './http-post.js';
import { DEFAULT_MAX_LABELS_PER_SERIES, type PromNaming } from './prom-series.js';
import { encodeRemoteWrite } from './remote-write-encode.js';
import { toSendResult, type SendResult } from './send-result.js';

export interface RemoteWriteOptions extends HttpSinkOptions {
  /** Metric name prefix; default `owl_`; '' for none. */
  prefix?: string;
  /** Labels added to every series that lacks them (names must match PROM_LABEL_NAME). */
  extraLabels?: Readonly<Record<string, string>>;
  /** Default 30, `__name__` and extra labels included. */
  maxLabelsPerSeries?: number;
}

const HEADERS = {
  'Content-Encoding': 'snappy',
  'Content-Type': 'application/x-protobuf',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
  'User-Agent': 'owl-upstream',
};

export class RemoteWriteClient {
  private readonly poster: HttpPoster;
  readonly naming: PromNaming;

  constructor(options: RemoteWriteOptions) {
    this.poster = new HttpPoster(options);
    this.naming = {
      prefix: options.prefix ?? 'owl_',
      extraLabels: options.extraLabels ?? {},
      maxLabelsPerSeries: options.maxLabelsPerSeries ?? DEFAULT_MAX_LABELS_PER_SERIES,
    };
  }

  async send(points: readonly StorePoint[]): Promise<SendResult> {
    const req = encodeRemoteWrite(points, this.naming);
    if (req.samples === 0) return { ok: true, samples: 0, dropped: req.dropped };
    return this.sendEncoded(req.body, req.samples, req.dropped);
  }

  /** Send an already-encoded body (a resend, the bench). */
  async sendEncoded(
    body: Buffer,
    samples: number,
    dropped: Readonly<Record<string, number>> = {},
  ): Promise<SendResult> {
    return toSendResult(await this.poster.post(body, HEADERS), samples, dropped);
  }

  close(): void {
    this.poster.close();
  }
}
