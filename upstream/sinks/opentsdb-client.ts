/** OpenTSDB HTTP `/api/put` client (OpenTSDB itself, VictoriaMetrics' `-opentsdbHTTPListenAddr`). */
import type { StorePoint } from '../store/index.js';
import { SinkError, SinkErrorCode } from './errors.js';
import { HttpPoster, type HttpSinkOptions } from './http-post.js';
import type { SinkEncoding } from './encoding.js';
import { DEFAULT_OPENTSDB_MAX_TAGS, OpenTsdbEncoder, type OpenTsdbNaming } from './opentsdb-encode.js';
import { bodyBuffer, columnsOf, singleBody, type EncodedPart } from './sink-encoder.js';
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

/** The naming these options give, defaults filled in. */
export function openTsdbNaming(options: Pick<OpenTsdbOptions, 'extraTags' | 'maxTags'>): OpenTsdbNaming {
  return { extraTags: options.extraTags ?? {}, maxTags: options.maxTags ?? DEFAULT_OPENTSDB_MAX_TAGS };
}

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
    this.naming = openTsdbNaming(options);
    this.search = `?${options.answer ?? 'summary'}`;
  }

  /** How the store encodes this sink's requests. */
  get encoding(): SinkEncoding {
    return { type: 'opentsdb', naming: this.naming };
  }

  /** Encode and send points given as objects, as one request. */
  async send(points: readonly StorePoint[]): Promise<SendResult> {
    const e = singleBody(new OpenTsdbEncoder(this.naming).encode(columnsOf(points)));
    if (e.samples === 0) return { ok: true, samples: 0, dropped: e.dropped };
    return { ...(await this.sendPart(e)), dropped: e.dropped };
  }

  /** Send one request body the store encoded for this sink (sink-encoder.ts). */
  async sendPart(part: EncodedPart): Promise<SendResult> {
    return toSendResult(
      await this.poster.post(bodyBuffer(part.body), HEADERS, this.search),
      part.samples,
      {},
    );
  }

  close(): void {
    this.poster.close();
  }
}
