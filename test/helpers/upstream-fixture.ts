/**
 * Fixtures for upstream tests: a real upstream on a temp dir torn down with
 * the test, relays added through the API, a log that can be read back, and
 * small API readers (stats, query, host).
 */
import type { ExecutionContext } from 'ava';
import { pino, type Logger } from 'pino';
import type {
  HostRecord,
  HostStatus,
  Upstream,
  UpstreamConfigInput,
  UpstreamStartOptions,
} from '../../upstream/index.js';
import { tempDir } from './relay-harness.js';
import { api, startUpstream } from './upstream-harness.js';

/** A pino logger whose JSON lines are kept for assertions. */
export function captureLog(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}

export interface UpstreamFixture {
  up: Upstream;
  /** State and scratch directory (removed after the test). */
  dir: string;
  /** Base URL for relays (`ws://127.0.0.1:<port>`). */
  base: string;
}

/** Start an upstream for this test; stopped and its directory removed at teardown. */
export async function withUpstream(
  t: ExecutionContext,
  overrides: UpstreamConfigInput = {},
  options: UpstreamStartOptions = {},
): Promise<UpstreamFixture> {
  const dir = tempDir('owl-upstream-test-');
  t.teardown(() => dir.remove());
  const up = await startUpstream(`${dir.path}/up`, overrides, options);
  t.teardown(() => up.stop());
  return { up, dir: dir.path, base: `ws://127.0.0.1:${up.uplinkAddress.port}` };
}

/** Add a relay through the API; returns its token. */
export async function addRelay(up: Upstream, id: string): Promise<string> {
  const added = await api(up, 'POST', '/api/v1/relays', { id });
  if (added.status !== 201) throw new Error(`POST /relays answered ${added.status}`);
  return (added.body as { token: string }).token;
}

export interface StatsView {
  series: number;
  points: number;
  hosts: number;
  relaysConnected: number;
  batches: number;
  duplicates: number;
  rejected: number;
  samples: number;
}

export async function stats(up: Upstream): Promise<StatsView> {
  const s = await api(up, 'GET', '/api/v1/stats');
  if (s.status !== 200) throw new Error(`GET /stats answered ${s.status}`);
  return s.body as StatsView;
}

export interface SeriesView {
  metric: string;
  tags: Record<string, string>;
  timestampsMs: number[];
  values: number[];
}

/** GET /api/v1/query over all time. */
export async function query(
  up: Upstream,
  metric: string,
  tags: Record<string, string> = {},
): Promise<SeriesView[]> {
  const params = new URLSearchParams({ metric, from: '0', to: String(2 ** 47) });
  for (const [k, v] of Object.entries(tags)) params.set(`tag.${k}`, v);
  const q = await api(up, 'GET', `/api/v1/query?${params.toString()}`);
  if (q.status !== 200) throw new Error(`GET /query answered ${q.status}: ${JSON.stringify(q.body)}`);
  return q.body as SeriesView[];
}

/** A host as the API shows it: its registry record and its status. */
export type HostView = HostRecord & { status: HostStatus };

/** GET /api/v1/hosts/:uuid, or undefined on 404. */
export async function hostView(up: Upstream, uuid: string): Promise<HostView | undefined> {
  const h = await api(up, 'GET', `/api/v1/hosts/${uuid}`);
  if (h.status === 404) return undefined;
  if (h.status !== 200) throw new Error(`GET /hosts/${uuid} answered ${h.status}`);
  return h.body as HostView;
}

/** A settable clock for UpstreamStartOptions.now. */
export function manualClock(start: number): { now: () => number; set: (ms: number) => void } {
  let current = start;
  return {
    now: () => current,
    set: (ms) => {
      current = ms;
    },
  };
}
