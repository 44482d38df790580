/**
 * The metrics listener of the relay and the upstream alike: `/metrics`, `/healthz` (200 while
 * the event loop answers) and `/readyz` (200 or 503 with the checks as JSON).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** A probe that does not answer within this is a failed check. */
const PROBE_TIMEOUT_MS = 2000;

/** What `/readyz` reports: each check with whether it passes and why. */
export interface Readiness {
  ready: boolean;
  /** The checks that fail, by name. */
  notReady: string[];
  checks: Record<string, { ok: boolean; detail: string }>;
}

export function readiness(checks: Readiness['checks']): Readiness {
  const notReady = Object.keys(checks).filter((k) => checks[k]?.ok !== true);
  return { ready: notReady.length === 0, notReady, checks };
}

/** A check that passes when `work` resolves within PROBE_TIMEOUT_MS. */
export async function probe(work: Promise<unknown>, what: string): Promise<{ ok: boolean; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${PROBE_TIMEOUT_MS} ms`)),
      PROBE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([work, late]);
    return { ok: true, detail: 'open' };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * prom-client's process/Node default metrics on `registry`, less its three gauges named `_total`
 * (nodejs_active_{handles,requests,resources}_total: a `_total` is a counter here); their
 * per-type twins (nodejs_active_handles{type}, …) stay, and sum to the same.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const kind of ['handles', 'requests', 'resources']) {
    registry.removeSingleMetric(`nodejs_active_${kind}_total`);
  }
}

/** Serve `/metrics`, `/healthz` and `/readyz` for `registry` on host:port. */
export async function listenHealthAndMetrics(
  registry: Registry,
  host: string,
  port: number,
  ready: () => Promise<Readiness>,
): Promise<Server> {
  const server = createServer((req, res) => serveHealthAndMetrics(registry, ready, req.url, res));
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/**
 * One request to a metrics listener: `/metrics` (the registry), `/healthz` (200 while this event
 * loop answers), `/readyz` (200 or 503, the checks as JSON).
 */
function serveHealthAndMetrics(
  registry: Registry,
  ready: () => Promise<Readiness>,
  url: string | undefined,
  res: ServerResponse,
): void {
  const path = (url ?? '').split('?')[0];
  const json = (status: number, body: unknown): void =>
    void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
  if (path === '/healthz') return json(200, { alive: true });
  const answer =
    path === '/metrics'
      ? registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      : path === '/readyz'
        ? ready().then((r) => json(r.ready ? 200 : 503, r))
        : Promise.resolve(void res.writeHead(404).end());
  answer.catch((err: unknown) => json(500, { error: (err as Error).message }));
}
