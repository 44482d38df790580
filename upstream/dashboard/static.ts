/**
 * Serves the dashboard on the API listener (same origin: no CORS). GET and HEAD of a known file
 * only, without the API token: the files hold no data, every data call of the page carries the
 * token. Anything else is left to the API (so an unknown path still gets its 401 or 404).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadAssets, type Asset } from './assets.js';

/** Self only: no inline script or style, no other origin, not framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Answers `req` when it asks for a dashboard file (true), else leaves it alone (false). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The path as the API reads it (the same URL parsing, `..` resolved); undefined if unparsable. */
function pathOf(req: IncomingMessage): string | undefined {
  try {
    return new URL(req.url ?? '/', 'http://api').pathname;
  } catch {
    return undefined;
  }
}

export function createDashboardHandler(dir?: string): DashboardHandler {
  let assets: Map<string, Asset>;
  let missing: string | undefined;
  try {
    assets = loadAssets(dir);
  } catch (err) {
    // The API must work without the page (a build that did not copy the assets): say why at `/`.
    assets = new Map();
    missing = (err as Error).message;
  }
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = pathOf(req);
    if (pathname === undefined || pathname === '/api' || pathname.startsWith('/api/')) return false;
    const file = assets.get(pathname);
    if (file === undefined) {
      if (missing === undefined || (pathname !== '/' && pathname !== '/index.html')) return false;
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`${missing}\n`);
      return true;
    }
    const headers = {
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
      etag: file.etag,
    };
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-type': file.type, 'content-length': file.body.length });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
