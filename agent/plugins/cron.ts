/**
 * Cron expressions (v4 services' `cron`), on node-cron loaded lazily: it
 * costs about 4 MB of RSS, so it is imported only when a service actually
 * has a cron expression. node-cron parses and matches (5 or 6 fields, local
 * time, its L/W/# extensions); the next run time is computed here from the
 * injected clock, and the scheduler arms its own timer for it: node-cron's
 * timers would run on the real clock and its own loop, which tests cannot
 * drive and the scheduler could not keep from overlapping.
 */
import type * as NodeCron from 'node-cron';

type CronModule = typeof NodeCron;

let loading: Promise<CronModule> | undefined;

/** node-cron, imported on first use. */
export function loadNodeCron(): Promise<CronModule> {
  loading ??= import('node-cron');
  return loading;
}

/** How far ahead a next run is looked for: covers Feb 29 (and a skipped leap year, 2100). */
const MAX_DAYS = 366 * 9;

export interface CronSchedule {
  readonly expression: string;
  /** The first matching whole second strictly after `afterMs`, in ms; undefined if none within ~9 years. */
  next(afterMs: number): number | undefined;
  /** Drop node-cron's task (it is kept in node-cron's registry until then). */
  dispose(): void;
}

/** A valid expression's schedule, or the reason it is invalid. */
export async function compileCron(expression: string): Promise<CronSchedule | { error: string }> {
  const cron = await loadNodeCron();
  let task: NodeCron.ScheduledTask;
  let fields: NodeCron.ParsedFields;
  try {
    const v = cron.validateDetailed(expression);
    if (!v.valid || v.fields === undefined) return { error: v.errors.map((e) => e.message).join('; ') };
    fields = v.fields;
    // Created, never started: used only for `match(date)`, which knows every token the parser accepts.
    task = cron.createTask(expression, () => {});
  } catch (e) {
    return { error: (e as Error).message };
  }
  return new CronMatcher(expression, fields, task);
}

class CronMatcher implements CronSchedule {
  private readonly hours: number[];
  private readonly minutes: number[];
  private readonly seconds: number[];

  constructor(
    readonly expression: string,
    fields: NodeCron.ParsedFields,
    private readonly task: NodeCron.ScheduledTask,
  ) {
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    this.hours = sorted(fields.hour);
    this.minutes = sorted(fields.minute);
    this.seconds = sorted(fields.second);
  }

  next(afterMs: number): number | undefined {
    const after = new Date(afterMs);
    for (let i = 0; i < MAX_DAYS; i++) {
      const t = this.firstInDay(after.getFullYear(), after.getMonth(), after.getDate() + i, afterMs);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  dispose(): void {
    void this.task.destroy();
  }

  /** The first match on one local day after `afterMs`: day and month are checked once, then times in order. */
  private firstInDay(year: number, month: number, day: number, afterMs: number): number | undefined {
    const [h0, m0, s0] = [this.hours[0]!, this.minutes[0]!, this.seconds[0]!];
    if (!this.task.match(new Date(year, month, day, h0, m0, s0))) return undefined;
    for (const h of this.hours) {
      if (new Date(year, month, day, h, 59, 59).getTime() <= afterMs) continue;
      for (const m of this.minutes) {
        if (new Date(year, month, day, h, m, 59).getTime() <= afterMs) continue;
        for (const s of this.seconds) {
          const t = new Date(year, month, day, h, m, s);
          if (t.getTime() > afterMs && this.task.match(t)) return t.getTime();
        }
      }
    }
    return undefined;
  }
}
