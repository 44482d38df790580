/** Prometheus remote_write 1.0 client (VictoriaMetrics, Prometheus, Mimir, Thanos receive). */
import type { StorePoint } from '../store/index.js';
import { HttpPoster, type HttpSinkOptions } from './http-post.js';
import { DEFAULT_MAX_LABELS_PER_SERIES, type PromNaming } from './prom-series.js';
import type { SinkEncoding } from './encoding.js';
import { encodeRemoteWrite } from './remote-write-encode.js';
import { bodyBuffer, type EncodedPart } from './sink-encoder.js';
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

/** The naming these options give, defaults filled in. */
export function remoteWriteNaming(
  options: Pick<RemoteWriteOptions, 'prefix' | 'extraLabels' | 'maxLabelsPerSeries'>,
): PromNaming {
  return {
    prefix: options.prefix ?? 'owl_',
    extraLabels: options.extraLabels ?? {},
    maxLabelsPerSeries: options.maxLabelsPerSeries ?? DEFAULT_MAX_LABELS_PER_SERIES,
  };
}

export class RemoteWriteClient {
  private readonly poster: HttpPoster;
  readonly naming: PromNaming;

  constructor(options: RemoteWriteOptions) {
    this.poster = new HttpPoster(options);
    this.naming = remoteWriteNaming(options);
  }

  /** How the store encodes this sink's requests. */
  get encoding(): SinkEncoding {
    return { type: 'remote_write', naming: this.naming };
  }

  /** Encode and send points given as objects, as one request. */
  async send(points: readonly StorePoint[]): Promise<SendResult> {
    const e = encodeRemoteWrite(points, this.naming);
    if (e.samples === 0) return { ok: true, samples: 0, dropped: e.dropped };
    return { ...(await this.sendPart(e)), dropped: e.dropped };
  }

  /** Send one request body the store encoded for this sink (sink-encoder.ts). */
  async sendPart(part: EncodedPart): Promise<SendResult> {
    return toSendResult(await this.poster.post(bodyBuffer(part.body), HEADERS), part.samples, {});
  }

  close(): void {
    this.poster.close();
  }
}
