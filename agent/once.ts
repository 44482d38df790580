/**
 * `owl-agent once`: every built-in collector and every plugin of the cached
 * host config (or of the v3 td-client being replaced) run once, now, and
 * their samples printed. Counters and DERIVE items are printed as read
 * (a rate needs two readings), marked as such. Nothing is sent or buffered.
 */
import { SYSTEM_TIMERS, type BatchSample, type Host, type Service } from '../protocol/wire/index.js';
import { CollectorRunner } from './collect.js';
import { builtinCollectors } from './collectors/index.js';
import type { AgentConfig } from './config.js';
import { hostCachePath, loadHostCache } from './host-cache.js';
import type { AgentLogger } from './log.js';
import { PluginHost, type ServiceStatus } from './plugins/plugin-host.js';
import type { V3Settings } from './v3-migration.js';

/** Plugin problems go to stderr as they happen, one line each. */
const stderrLogger: AgentLogger = {
  info: () => undefined,
  debug: () => undefined,
  warn: (obj, msg) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
};

export async function runOnce(
  config: AgentConfig,
  v3: V3Settings | undefined,
  json: boolean,
): Promise<string> {
  const samples: BatchSample[] = [];
  const collectors = new CollectorRunner(
    config.collectInterval > 0 ? builtinCollectors() : [],
    SYSTEM_TIMERS,
    stderrLogger,
  );
  const host = (await loadHostCache(hostCachePath(config.stateDir)).catch(() => undefined)) ?? v3?.host;
  const plugins = new PluginHost({
    pluginDir: config.pluginDir,
    emit: (s) => samples.push(...s),
    logger: stderrLogger,
    schedule: false,
    ...(config.pluginTimeout ? { defaultTimeoutMs: config.pluginTimeout * 1000 } : {}),
  });
  await plugins.apply(rawServices(host));
  const [fromCollectors, statuses] = await Promise.all([collectors.round(true), plugins.runOnce()]);
  samples.push(...fromCollectors);
  return json ? samples.map((s) => `${JSON.stringify(s)}\n`).join('') : table(samples, statuses);
}

/** The host's services with every item read as a gauge: one run has no previous value to difference. */
function rawServices(host: Host | undefined): Service[] {
  return (host?.services ?? []).map((s) => ({
    ...s,
    items: s.items
      ? Object.fromEntries(
          Object.entries(s.items).map(([k, item]) => [k, { ...item, data_type: 'GAUGE' as const }]),
        )
      : s.items,
  }));
}

function table(samples: BatchSample[], statuses: ServiceStatus[]): string {
  const rows = samples.map((s) => {
    const tags = s.tags
      ? Object.entries(s.tags)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : '';
    const kind = s.data_type === 'COUNTER' ? ' (counter, raw)' : '';
    return `${s.service_name ?? ''}.${s.metric}${tags ? `{${tags}}` : ''} ${s.value}${kind}${s.flag ? ' (new item)' : ''}`;
  });
  for (const p of statuses) {
    rows.push(
      `# plugin ${p.service} (${p.plugin}): ${p.lastResult ?? 'not run'} in ${p.lastDurationMs ?? '-'} ms, ${p.samples} samples`,
    );
  }
  return `${rows.join('\n')}\n`;
}
