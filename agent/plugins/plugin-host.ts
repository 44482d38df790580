/**
 * The plugins a host runs: the services from its config, each scheduled,
 * run, parsed and turned into samples for `emit`. A new config is applied
 * as a diff (no restart): new services are scheduled, removed ones stopped,
 * changed ones (plugin, args, interval, cron or items) start over, and
 * unchanged ones keep their schedule and their counters' state.
 *
 * One plugin's failure (bad path, bad args, timeout, non-zero exit, output
 * not understood) is counted, logged and never affects another. A run that
 * exits non-zero sends nothing (as v3: its output may be half-written).
 */
import { SYSTEM_TIMERS, type BatchSample, type Service, type Timers } from '../../protocol/wire/index.js';
import { nullLogger, type AgentLogger } from '../log.js';
import { RateTracker } from '../rates.js';
import { ArgsError, splitArgs } from './args.js';
import { parsePluginOutput } from './output.js';
import { runPlugin, type PluginRunResult } from './run-plugin.js';
import { toBatchSamples } from './samples.js';
import { Scheduler } from './scheduler.js';

/** Longest a run may take unless the interval is shorter (v3 had no limit on cron-like long intervals). */
export const DEFAULT_TIMEOUT_MS = 60_000;

export type RunOutcome = 'ok' | 'timeout' | 'bad-output' | `exit-${number}` | 'error';

export interface ServiceStatus {
  service: string;
  plugin: string;
  /** When the last run started (ms since the epoch); null before the first. */
  lastRunAt: number | null;
  lastDurationMs: number | null;
  lastResult: RunOutcome | null;
  /** Samples the last run sent. */
  samples: number;
  /** Runs whose output was not understood (or too large), since the service was (re)applied. */
  badOutputs: number;
  /** Scheduled runs skipped because the previous one was still going. */
  overruns: number;
}

export interface PluginHostOptions {
  pluginDir: string;
  emit(samples: BatchSample[]): void;
  timers?: Timers;
  logger?: AgentLogger;
  /** A run's deadline: min(exec_interval, this); default 60 s. */
  defaultTimeoutMs?: number;
  /** false: `apply` only records the services, for `runOnce` (owl-agent once). Default true. */
  schedule?: boolean;
}

interface Entry {
  service: Service;
  fingerprint: string;
  tracker: RateTracker;
  status: ServiceStatus;
  inFlight: Promise<void> | undefined;
  abort: AbortController;
}

export class PluginHost {
  private readonly timers: Timers;
  private readonly logger: AgentLogger;
  private readonly scheduler: Scheduler;
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: PluginHostOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.logger = options.logger ?? nullLogger;
    this.scheduler = new Scheduler({ timers: this.timers, logger: this.logger });
  }

  /** Make the running set match `services` (keyed by name; a repeated name is ignored and logged). */
  async apply(services: readonly Service[]): Promise<void> {
    const wanted = new Map<string, Service>();
    for (const s of services) {
      if (wanted.has(s.name)) this.logger.warn({ service: s.name }, 'duplicate service name: ignored');
      else wanted.set(s.name, s);
    }
    const counts = { added: 0, changed: 0, removed: 0, kept: 0 };
    for (const [name, entry] of this.entries) {
      if (!wanted.has(name)) {
        this.drop(name, entry);
        counts.removed++;
      }
    }
    const scheduling: Promise<unknown>[] = [];
    for (const [name, service] of wanted) {
      const old = this.entries.get(name);
      const fingerprint = fingerprintOf(service);
      if (old !== undefined && old.fingerprint === fingerprint) {
        old.service = service; // same run; `id` may differ
        counts.kept++;
        continue;
      }
      if (old !== undefined) this.drop(name, old);
      counts[old === undefined ? 'added' : 'changed']++;
      const entry = newEntry(service, fingerprint);
      this.entries.set(name, entry);
      if (this.options.schedule === false) continue;
      const run = () => this.run(entry);
      scheduling.push(
        this.scheduler.add({ id: name, intervalS: service.exec_interval, cron: service.cron, run }),
      );
    }
    await Promise.all(scheduling);
    this.logger.info(counts, 'plugin services applied');
  }

  /**
   * Run every service once now (owl-agent once); a service already running
   * is waited for, not started twice. Services that would not be scheduled
   * (exec_interval ≤ 0 and no cron) are not run here either.
   */
  async runOnce(): Promise<ServiceStatus[]> {
    const runnable = [...this.entries.values()].filter((e) => wouldRun(e.service));
    await Promise.all(runnable.map((e) => this.run(e)));
    return this.status();
  }

  status(): ServiceStatus[] {
    return [...this.entries.entries()].map(([name, e]) => ({
      ...e.status,
      overruns: this.scheduler.info(name)?.overruns ?? e.status.overruns,
    }));
  }

  /** Unschedule everything and kill running plugins' process groups; resolves when their runs have ended. */
  async stop(): Promise<void> {
    const running = [...this.entries.values()].map((e) => e.inFlight);
    for (const [name, entry] of this.entries) this.drop(name, entry);
    await Promise.all(running);
  }

  private drop(name: string, entry: Entry): void {
    this.scheduler.remove(name);
    entry.abort.abort();
    this.entries.delete(name);
  }

  private run(entry: Entry): Promise<void> {
    entry.inFlight ??= this.execute(entry).finally(() => (entry.inFlight = undefined));
    return entry.inFlight;
  }

  private async execute(entry: Entry): Promise<void> {
    const { service } = entry;
    const startedAt = this.timers.now();
    let args: string[];
    try {
      args = splitArgs(service.args ?? '');
    } catch (e) {
      if (!(e instanceof ArgsError)) throw e;
      this.record(entry, startedAt, 0, 'error', 0);
      this.logger.warn(
        { service: service.name, plugin: service.plugin, error: e.message },
        'bad plugin args',
      );
      return;
    }
    const result = await runPlugin({
      pluginDir: this.options.pluginDir,
      plugin: service.plugin,
      args,
      timeoutMs: this.timeoutFor(service),
      signal: entry.abort.signal,
      timers: this.timers,
    });
    if (entry.abort.signal.aborted) return; // removed or changed meanwhile: its samples are not wanted
    this.finish(entry, startedAt, result);
  }

  private finish(entry: Entry, startedAt: number, result: PluginRunResult): void {
    const { service } = entry;
    const where = { service: service.name, plugin: service.plugin };
    const failed = failure(result);
    if (failed !== undefined) {
      if (failed === 'bad-output') entry.status.badOutputs++;
      this.record(entry, startedAt, result.durationMs, failed, 0);
      const { exitCode, signal, error, stderrSnippet: stderr } = result;
      this.logger.warn({ ...where, result: failed, exitCode, signal, error, stderr }, 'plugin run failed');
      return;
    }
    const output = parsePluginOutput(result.stdout);
    if (output.error !== undefined || output.badItems > 0) {
      if (output.error !== undefined) entry.status.badOutputs++;
      const { error, snippet, badItems } = output;
      this.logger.warn({ ...where, error, snippet, badItems }, 'plugin output not understood');
    }
    if (output.note !== undefined)
      this.logger.info({ ...where, note: output.note }, 'plugin printed nothing');
    if (result.stderrSnippet !== '')
      this.logger.debug?.({ ...where, stderr: result.stderrSnippet }, 'plugin stderr');
    const samples = toBatchSamples(service, output.samples, entry.tracker, startedAt);
    const outcome = output.error !== undefined ? 'bad-output' : 'ok';
    this.record(entry, startedAt, result.durationMs, outcome, samples.length);
    if (samples.length > 0) this.emit(where, samples);
  }

  private emit(where: object, samples: BatchSample[]): void {
    try {
      this.options.emit(samples);
    } catch (e) {
      this.logger.error({ ...where, err: String(e) }, 'emitting plugin samples failed');
    }
  }

  private record(entry: Entry, at: number, durationMs: number, result: RunOutcome, samples: number): void {
    Object.assign(entry.status, { lastRunAt: at, lastDurationMs: durationMs, lastResult: result, samples });
  }

  private timeoutFor(service: Service): number {
    const cap = this.options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const interval = service.exec_interval;
    return Number.isFinite(interval) && interval > 0 ? Math.min(interval * 1000, cap) : cap;
  }
}

/** How a run failed before its output could be read, or undefined when it exited 0 in time. */
function failure(result: PluginRunResult): RunOutcome | undefined {
  if (result.timedOut) return 'timeout';
  if (result.error === 'output too large') return 'bad-output';
  if (result.error !== undefined) return 'error';
  if (result.exitCode !== null && result.exitCode !== 0) return `exit-${result.exitCode}`;
  if (result.exitCode === null) return 'error'; // killed by a signal
  return undefined;
}

function wouldRun(s: Service): boolean {
  return (
    (Number.isFinite(s.exec_interval) && s.exec_interval > 0) ||
    (s.cron !== undefined && s.cron.trim() !== '')
  );
}

function newEntry(service: Service, fingerprint: string): Entry {
  const status: ServiceStatus = {
    service: service.name,
    plugin: service.plugin,
    lastRunAt: null,
    lastDurationMs: null,
    lastResult: null,
    samples: 0,
    badOutputs: 0,
    overruns: 0,
  };
  return {
    service,
    fingerprint,
    tracker: new RateTracker(),
    status,
    inFlight: undefined,
    abort: new AbortController(),
  };
}

/** What decides how a service runs and what its samples mean; a change restarts it. */
function fingerprintOf(s: Service): string {
  const items = Object.entries(s.items ?? {})
    .map(([k, v]) => [k, v.key, v.data_type])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return JSON.stringify([s.plugin, s.args ?? '', s.exec_interval, s.cron ?? '', items]);
}
