/**
 * Operator API calls by port and token, for upstreams in a child process and
 * for requests the in-process harness cannot make (no Authorization header,
 * a raw body). Loopback only.
 */
import { request } from 'node:http';

export interface ApiTarget {
  port: number;
  /** Bearer token; null sends no Authorization header. */
  token: string | null;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Call `method path` with `body` (JSON-encoded unless it is already a string or Buffer). */
export function callApi(target: ApiTarget, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const payload =
    body === undefined
      ? undefined
      : typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        // A fresh connection per call: a kept-alive one the server is just closing fails the
        // next request with ECONNRESET "socket hang up" (seen once in outage-real-chain).
        agent: false,
        method,
        path,
        headers: target.token === null ? {} : { authorization: `Bearer ${target.token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : (JSON.parse(text) as unknown);
          } catch {
            /* not JSON: keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
