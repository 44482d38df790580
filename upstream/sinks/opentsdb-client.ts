/** OpenTSDB HTTP `/api/put` client (OpenTSDB itself, VictoriaMetrics' `-opentsdbHTTPListenAddr`). */
import type { StorePoint } from '../store/index.js';
import { SinkError, SinkErrorCode } from './errors.js';
import { HttpPoster, type HttpSinkOptions } from './http-post.js';
import { DEFAULT_OPENTSDB_MAX_TAGS, encodeOpenTsdb, type OpenTsdbNaming } from './opentsdb-encode.js';
import { toSendResult, type SendResult } from './send-result.js';

export interface OpenTsdbOptions extends HttpSinkOptions {
  /** The base URL, e.g. `http://tsdb:4242`; `/api/put` is appended when the path is `/`. */
  url: string;
  extraTags?: Readonly<Record<string, string>>;
  /** Default 8 (OpenTSDB's `tsd.storage.max_tags`). */
  maxTags?: number;
  /** `summary` (default): counts in the answer; `details`: also the errors of refused points. */
  answer?: 'summary' | 'details';
}

const HEADERS = { 'Content-Type': 'application/json', 'User-Agent': 'owl-upstream' };

export class OpenTsdbClient {
  private readonly poster: HttpPoster;
  private readonly naming: OpenTsdbNaming;
  private readonly search: string;

  constructor(options: OpenTsdbOptions) {
    if (!URL.canParse(options.url))
      throw new SinkError(SinkErrorCode.CONFIG, `invalid sink URL: ${options.url}`);
    const url = new URL(options.url);
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/put';
    this.poster = new HttpPoster({ ...options, url: url.toString() });
    this.naming = {
      extraTags: options.extraTags ?? {},
      maxTags: options.maxTags ?? DEFAULT_OPENTSDB_MAX_TAGS,
    };
    this.search = `?${options.answer ?? 'summary'}`;
  }

  async send(points: readonly StorePoint[]): Promise<SendResult> {
    const put = encodeOpenTsdb(points, this.naming);
    if (put.samples === 0) return { ok: true, samples: 0, dropped: put.dropped };
    return toSendResult(await this.poster.post(put.body, HEADERS, this.search), put.samples, put.dropped);
  }

  close(): void {
    this.poster.close();
  }
}
