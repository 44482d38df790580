/**
 * The dashboard's files on the upstream's API listener (`owl-upstream run`): served to GET and
 * HEAD without the token, with their content types, a self-only Content-Security-Policy and
 * ETags; uPlot comes from node_modules, byte for byte. No request path reaches the file system:
 * `..` in every spelling gets the API's answer (401 without a token), never a file. The API
 * itself still needs the token.
 */
import test from 'ava';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createDashboardHandler } from '../../upstream/dashboard/index.js';
import { startUpstreamCli, type UpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request with exactly this request line (no client-side path normalisation). */
async function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const lines = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...headers }).map(
    ([k, v]) => `${k}: ${v}`,
  );
  socket.write(`${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = all.subarray(0, split).toString('latin1').split('\r\n');
  const answerHeaders: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    answerHeaders[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine?.split(' ')[1]), headers: answerHeaders, body: all.subarray(split + 4) };
}

let up: UpstreamCli;
const dir = tempDir('owl-dashboard-static-');
test.before(async () => {
  up = await startUpstreamCli(join(dir.path, 'upstream'));
});
test.after.always(async () => {
  await up?.proc.kill();
  dir.remove();
});

const ASSETS = new URL('../../upstream/dashboard/assets/', import.meta.url);
const uplot = (file: string): Buffer =>
  readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`));

test('the page set is served without the token, typed, under a self-only CSP, uPlot from node_modules', async (t) => {
  const port = up.api.port;
  for (const [path, type, body] of [
    ['/', 'text/html; charset=utf-8', readFileSync(new URL('index.html', ASSETS))],
    ['/index.html', 'text/html; charset=utf-8', readFileSync(new URL('index.html', ASSETS))],
    ['/app.js', 'text/javascript; charset=utf-8', readFileSync(new URL('app.js', ASSETS))],
    ['/series.js', 'text/javascript; charset=utf-8', readFileSync(new URL('series.js', ASSETS))],
    ['/style.css', 'text/css; charset=utf-8', readFileSync(new URL('style.css', ASSETS))],
    ['/favicon.svg', 'image/svg+xml', readFileSync(new URL('favicon.svg', ASSETS))],
    ['/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8', uplot('uPlot.iife.min.js')],
    ['/vendor/uPlot.min.css', 'text/css; charset=utf-8', uplot('uPlot.min.css')],
  ] as const) {
    const a = await raw(port, 'GET', path);
    t.is(a.status, 200, path);
    t.is(a.headers['content-type'], type, path);
    t.true(a.body.equals(body), `${path}: the file's bytes`);
    t.is(a.headers['content-length'], String(body.length), path);
    t.is(a.headers['x-content-type-options'], 'nosniff', path);
    const csp = a.headers['content-security-policy'] ?? '';
    t.regex(csp, /default-src 'none'/, path);
    t.regex(csp, /script-src 'self'(;|$)/, path);
    t.regex(csp, /connect-src 'self'(;|$)/, path);
    t.notRegex(csp, /unsafe|https?:|\*/, `${path}: self only`);
  }
  const head = await raw(port, 'HEAD', '/app.js');
  t.is(head.status, 200);
  t.is(head.body.length, 0, 'HEAD: no body');
  const first = await raw(port, 'GET', '/style.css');
  const again = await raw(port, 'GET', '/style.css', { 'if-none-match': first.headers['etag'] ?? '' });
  t.is(again.status, 304, 'unchanged: 304 on its ETag');
  t.is(again.body.length, 0);
});

test('no path leaves the page set: traversal in every spelling gets the API answer, never a file', async (t) => {
  const port = up.api.port;
  const secrets = [
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8').slice(0, 40),
    'root:x:0:0',
    'createDashboardHandler',
  ];
  for (const path of [
    '/../package.json',
    '/..%2fpackage.json',
    '/%2e%2e/package.json',
    '/%2e%2e%2fpackage.json',
    '/vendor/../../package.json',
    '/vendor/..%2f..%2fpackage.json',
    '/vendor/uPlot.esm.js',
    '/vendor/../../../../../../etc/passwd',
    '/.%2e/.%2e/.%2e/etc/passwd',
    '//etc/passwd',
    '/..\\..\\package.json',
    '/static.ts',
    '/assets/app.js',
    '/index.ts',
    '/app.js/',
    '/app.js%00.html',
    '/api-token',
    'http://127.0.0.1/../../package.json',
  ]) {
    const a = await raw(port, 'GET', path);
    t.true(a.status === 401 || a.status === 400 || a.status === 404, `${path}: ${a.status}`);
    for (const secret of secrets) t.false(a.body.toString().includes(secret), `${path}: leaked`);
  }
});

test('the API still needs the token; only GET and HEAD reach the page set', async (t) => {
  const port = up.api.port;
  for (const [method, path] of [
    ['GET', '/api/v1/stats'],
    ['GET', '/api/../api/v1/stats'],
    ['GET', '/api'],
    ['GET', '/api/'],
    ['POST', '/'],
    ['PUT', '/index.html'],
    ['DELETE', '/app.js'],
  ]) {
    const a = await raw(port, method as string, path as string);
    t.is(a.status, 401, `${method} ${path}`);
    t.is(a.headers['content-type'], 'application/json', `${method} ${path}`);
  }
  const ok = await raw(port, 'GET', '/api/v1/stats', { authorization: `Bearer ${up.api.token}` });
  t.is(ok.status, 200);
});

test('without its files the API still runs and `/` says why', async (t) => {
  const missing = tempDir('owl-dashboard-missing-');
  t.teardown(missing.remove);
  const handler = createDashboardHandler(join(missing.path, 'assets'));
  const server = createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(418).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const root = await raw(port, 'GET', '/');
  t.is(root.status, 503);
  t.regex(root.body.toString(), /assets/);
  t.is((await raw(port, 'GET', '/app.js')).status, 418, 'other paths are left to the API');
});
