/**
 * One HTTP(S) POST to a sink over a keep-alive agent, classified: 2xx ok; network error,
 * timeout, 5xx and 429 retryable; any other status refused. Never throws for a failed send.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { SinkError, SinkErrorCode } from './errors.js';

export interface HttpSinkOptions {
  url: string;
  /** Basic auth; exclusive with `bearerToken`. */
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
  /** PEM file of the CA(s) that sign the sink's certificate (https only); default: the system's. */
  caFile?: string;
  /** Whole request, connect to last byte of the answer; default 30 s. */
  timeoutMs?: number;
}

export type PostResult = { ok: true; status: number } | { ok: false; error: SinkError };

const MAX_BODY_KEPT = 4096;
const MAX_LINE = 300;

function firstLine(body: Buffer): string {
  const line = body.toString('utf8').split(/\r?\n/, 1)[0] ?? '';
  return line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line;
}

function classify(status: number, body: Buffer): PostResult {
  if (status >= 200 && status < 300) return { ok: true, status };
  const line = firstLine(body);
  const code = status >= 500 || status === 429 ? SinkErrorCode.UNAVAILABLE : SinkErrorCode.REFUSED;
  return { ok: false, error: new SinkError(code, `sink answered ${status}: ${line}`, status, line) };
}

export class HttpPoster {
  readonly url: URL;
  private readonly agent: http.Agent;
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: HttpSinkOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (cause) {
      throw new SinkError(SinkErrorCode.CONFIG, `invalid sink URL: ${options.url}`, undefined, undefined, {
        cause,
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SinkError(SinkErrorCode.CONFIG, `sink URL must be http(s): ${options.url}`);
    }
    if (options.basicAuth !== undefined && options.bearerToken !== undefined) {
      throw new SinkError(SinkErrorCode.CONFIG, 'a sink takes basic auth or a bearer token, not both');
    }
    this.url = url;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.auth =
      options.bearerToken !== undefined
        ? `Bearer ${options.bearerToken}`
        : options.basicAuth !== undefined
          ? `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`
          : undefined;
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: readCa(options.caFile) })
        : new http.Agent({ keepAlive: true });
  }

  /** POST `body` to the URL (plus `search`, e.g. `?details`). */
  post(body: Buffer | string, headers: Record<string, string>, search = ''): Promise<PostResult> {
    const target = new URL(this.url);
    if (search !== '') target.search = search;
    const all: Record<string, string | number> = { ...headers, 'Content-Length': Buffer.byteLength(body) };
    if (this.auth !== undefined) all['Authorization'] = this.auth;
    const mod = target.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: PostResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = mod.request(target, { method: 'POST', agent: this.agent, headers: all }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (c: Buffer) => {
          if (kept < MAX_BODY_KEPT) chunks.push(c);
          kept += c.length;
        });
        res.on('end', () => finish(classify(res.statusCode ?? 0, Buffer.concat(chunks))));
        res.on('error', (cause) => finish(failure(SinkErrorCode.UNREACHABLE, cause)));
      });
      const timer = setTimeout(() => {
        finish(failure(SinkErrorCode.TIMEOUT, new Error(`no answer within ${this.timeoutMs} ms`)));
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (cause) => finish(failure(SinkErrorCode.UNREACHABLE, cause)));
      req.end(body);
    });
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }
}

function failure(code: SinkErrorCode, cause: unknown): PostResult {
  const message = cause instanceof Error ? cause.message : String(cause);
  return {
    ok: false,
    error: new SinkError(
      code,
      `sink ${code === SinkErrorCode.TIMEOUT ? 'timed out' : 'unreachable'}: ${message}`,
      undefined,
      undefined,
      { cause },
    ),
  };
}

function readCa(caFile: string | undefined): Buffer | undefined {
  if (caFile === undefined) return undefined;
  try {
    return readFileSync(caFile);
  } catch (cause) {
    throw new SinkError(
      SinkErrorCode.CONFIG,
      `cannot read the sink CA file ${caFile}`,
      undefined,
      undefined,
      { cause },
    );
  }
}
