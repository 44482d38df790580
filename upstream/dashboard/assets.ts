/**
 * The dashboard's files, read once into memory: the page set in ./assets/ (`npm run build` copies
 * it next to the compiled module) and uPlot's dist files from node_modules (vendored through npm,
 * never a CDN). A request is answered by an exact lookup in this table: no request path ever
 * reaches the file system, so `..`, encoded or not, cannot leave it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Where the page set lives: beside this module (source run by tsx, or dist/ after `npm run build`
 * copied it), else, for a dist/ compiled by a bare `tsc`, the source folder it was compiled from.
 */
const ASSET_DIRS = [
  fileURLToPath(new URL('./assets/', import.meta.url)),
  fileURLToPath(new URL('../../../upstream/dashboard/assets/', import.meta.url)),
];
export const ASSETS_DIR =
  ASSET_DIRS.find((dir) => existsSync(join(dir, 'index.html'))) ?? (ASSET_DIRS[0] as string);

/** URL path → file of the `uplot` package. */
const VENDOR: Readonly<Record<string, string>> = {
  '/vendor/uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  '/vendor/uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

function asset(file: string): Asset {
  const body = readFileSync(file);
  const type = TYPES[extname(file)];
  if (type === undefined) throw new Error(`dashboard: no content type for ${file}`);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** The table of servable files by URL path (`/` is index.html). Throws when a file is missing. */
export function loadAssets(dir = ASSETS_DIR): Map<string, Asset> {
  const table = new Map<string, Asset>();
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isFile() && TYPES[extname(entry.name)] !== undefined)
      table.set(`/${entry.name}`, asset(join(dir, entry.name)));
  const index = table.get('/index.html');
  if (index === undefined) throw new Error(`dashboard: no index.html in ${dir} (npm run build copies it)`);
  table.set('/', index);
  const require = createRequire(import.meta.url);
  for (const [path, specifier] of Object.entries(VENDOR)) table.set(path, asset(require.resolve(specifier)));
  return table;
}
