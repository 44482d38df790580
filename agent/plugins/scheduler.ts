/**
 * When jobs run: every `intervalS` seconds on wall-clock boundaries (a 10 s
 * job runs at :00, :10, :20…, so readings from many hosts line up), or on a
 * cron expression. All on injected Timers, so tests drive it by hand.
 *
 * - A job never overlaps itself: a tick that finds the previous run still
 *   going is skipped and counted as an overrun.
 * - No cron and an interval ≤ 0 or not finite: not scheduled, logged once
 *   (v3 crashed on a zero interval).
 * - An invalid cron expression is logged and the job falls back to its
 *   interval when that is > 0 (keep the data the service had before it got
 *   a cron), else it is not scheduled.
 * - Each tick arms the next one from the clock (not a fixed setInterval), so
 *   runs stay on boundaries across drift and clock changes.
 */
import { SYSTEM_TIMERS, type TimerHandle, type Timers } from '../../protocol/wire/index.js';
import { nullLogger, type AgentLogger } from '../log.js';
import { compileCron, type CronSchedule } from './cron.js';

/** Longest delay a Node timer takes (about 24.8 days); longer waits are armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A timer that fires this little before its due time counts as on time (timers run on the monotonic clock). */
const EARLY_SLACK_MS = 50;

export interface JobSpec {
  id: string;
  intervalS: number;
  cron?: string;
  run(): Promise<unknown>;
}

export type ScheduleMode = 'interval' | 'cron' | 'none';

export interface JobInfo {
  id: string;
  mode: ScheduleMode;
  /** When the next run is due (ms since the epoch); undefined when not scheduled. */
  nextRunAt: number | undefined;
  runs: number;
  overruns: number;
  running: boolean;
}

interface Job extends JobInfo {
  spec: JobSpec;
  intervalMs: number;
  cron: CronSchedule | undefined;
  timer: TimerHandle | undefined;
  removed: boolean;
}

export interface SchedulerOptions {
  timers?: Timers;
  logger?: AgentLogger;
}

export class Scheduler {
  private readonly timers: Timers;
  private readonly logger: AgentLogger;
  private readonly jobs = new Map<string, Job>();

  constructor(options: SchedulerOptions = {}) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.logger = options.logger ?? nullLogger;
  }

  /** Schedule `spec` (replacing a job with the same id); resolves once its first run is armed. */
  async add(spec: JobSpec): Promise<JobInfo> {
    this.remove(spec.id);
    const job: Job = {
      id: spec.id,
      spec,
      mode: 'none',
      nextRunAt: undefined,
      runs: 0,
      overruns: 0,
      running: false,
      intervalMs: validInterval(spec.intervalS) ? Math.max(1, Math.round(spec.intervalS * 1000)) : 0,
      cron: undefined,
      timer: undefined,
      removed: false,
    };
    this.jobs.set(spec.id, job);
    if (spec.cron !== undefined && spec.cron.trim() !== '') await this.useCron(job, spec.cron);
    if (job.removed) {
      job.cron?.dispose(); // removed or replaced while node-cron loaded
      return info(job);
    }
    if (job.mode === 'none' && job.intervalMs > 0) job.mode = 'interval';
    if (job.mode === 'none') {
      this.logger.warn(
        { job: spec.id, exec_interval: spec.intervalS },
        'not scheduled: exec_interval must be > 0',
      );
      return info(job);
    }
    this.arm(job, this.nextAfter(job, this.timers.now()));
    return info(job);
  }

  /** Unschedule; a run in progress is left to finish (its owner may abort it). */
  remove(id: string): boolean {
    const job = this.jobs.get(id);
    if (job === undefined) return false;
    job.removed = true;
    this.timers.clearTimeout(job.timer);
    job.cron?.dispose();
    this.jobs.delete(id);
    return true;
  }

  info(id: string): JobInfo | undefined {
    const job = this.jobs.get(id);
    return job && info(job);
  }

  stop(): void {
    for (const id of [...this.jobs.keys()]) this.remove(id);
  }

  private async useCron(job: Job, expression: string): Promise<void> {
    const compiled = await compileCron(expression);
    if ('error' in compiled) {
      const fallback = job.intervalMs > 0 ? `every ${job.spec.intervalS} s instead` : 'not scheduled';
      this.logger.warn({ job: job.id, cron: expression, error: compiled.error }, `invalid cron: ${fallback}`);
      return;
    }
    job.cron = compiled;
    job.mode = 'cron';
  }

  /** The next due time after `from`: the next interval boundary, or the cron's next match. */
  private nextAfter(job: Job, from: number): number | undefined {
    if (job.cron !== undefined) return job.cron.next(from);
    return Math.floor(from / job.intervalMs) * job.intervalMs + job.intervalMs;
  }

  private arm(job: Job, at: number | undefined): void {
    job.nextRunAt = at;
    if (at === undefined) {
      this.logger.warn(
        { job: job.id, cron: job.spec.cron },
        'cron expression never matches again: not scheduled',
      );
      return;
    }
    const delay = at - this.timers.now();
    if (delay > MAX_TIMER_MS) {
      job.timer = this.timers.setTimeout(() => this.arm(job, at), MAX_TIMER_MS);
      return;
    }
    job.timer = this.timers.setTimeout(() => this.tick(job, at), Math.max(0, delay));
  }

  private tick(job: Job, due: number): void {
    if (job.removed) return;
    const now = this.timers.now();
    // Slightly early counts as on time; otherwise go by the clock (it may have been set back).
    const from = due > now && due - now <= EARLY_SLACK_MS ? due : now;
    this.arm(job, this.nextAfter(job, from));
    if (job.running) {
      job.overruns++;
      // Warn on the first; the count is in the status, so a slow plugin does not flood the log.
      const log = job.overruns === 1 ? this.logger.warn : this.logger.debug;
      log?.call(
        this.logger,
        { job: job.id, overruns: job.overruns },
        'previous run still going: this run skipped',
      );
      return;
    }
    job.running = true;
    job.runs++;
    void start(job.spec)
      .catch((e: unknown) => this.logger.error({ job: job.id, err: String(e) }, 'job failed'))
      .finally(() => (job.running = false));
  }
}

/** Start a run now (synchronously, so it sees the tick's clock); a throw becomes a rejection. */
function start(spec: JobSpec): Promise<unknown> {
  try {
    return Promise.resolve(spec.run());
  } catch (e) {
    return Promise.reject(e);
  }
}

function validInterval(s: number): boolean {
  return typeof s === 'number' && Number.isFinite(s) && s > 0;
}

function info(job: Job): JobInfo {
  const { id, mode, nextRunAt, runs, overruns, running } = job;
  return { id, mode, nextRunAt, runs, overruns, running };
}
