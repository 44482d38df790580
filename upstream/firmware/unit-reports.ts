/**
 * The latest firmware report of every relay and agent (FIRMWARE_REPORT): relays keyed by relay
 * id, agents by host uuid (with the relay that reported them last). Logged once per state change
 * and once per new failure or refusal, not per report. Kept in `<stateDir>/firmware/units.json`,
 * written at most once per `debounceMs` (reports come in bursts after every relay reconnect) and
 * at close.
 */
import { join } from 'node:path';
import type { FirmwareUnitReport } from '../../protocol/index.js';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

export interface UnitStatus {
  /** The relay id, or the agent's host uuid. */
  unit: string;
  kind: 'relay' | 'agent';
  /** The relay that sent the report (for a relay: itself). */
  relay: string;
  /** When the upstream received it (its clock, ms). */
  reportedAt: number;
  report: FirmwareUnitReport;
}

export interface UnitLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const FILE = 'units.json';
export const DEFAULT_REPORT_DEBOUNCE_MS = 2000;

export class UnitReports {
  private readonly units = new Map<string, UnitStatus>();
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly log: UnitLog,
    private readonly now: () => number,
    private readonly debounceMs: number,
  ) {}

  static async open(
    dir: string,
    o: { log: UnitLog; now: () => number; debounceMs?: number },
  ): Promise<UnitReports> {
    const r = new UnitReports(join(dir, FILE), o.log, o.now, o.debounceMs ?? DEFAULT_REPORT_DEBOUNCE_MS);
    const saved = (await readJsonFile(r.file)) as { units?: UnitStatus[] } | undefined;
    for (const u of saved?.units ?? []) r.units.set(key(u.kind, u.unit), u);
    return r;
  }

  list(): UnitStatus[] {
    return [...this.units.values()].sort((a, b) =>
      a.kind !== b.kind ? (a.kind === 'relay' ? -1 : 1) : a.unit < b.unit ? -1 : 1,
    );
  }

  /** Reports from relay `relay`. */
  take(relay: string, reports: readonly FirmwareUnitReport[]): void {
    const at = this.now();
    for (const report of reports) {
      const kind = report.uuid === undefined ? 'relay' : 'agent';
      const unit = report.uuid ?? relay;
      const k = key(kind, unit);
      const before = this.units.get(k);
      const next: UnitStatus = { unit, kind, relay, reportedAt: at, report };
      this.units.set(k, next);
      this.logChanges(before?.report, next);
    }
    if (reports.length > 0) this.schedule();
  }

  /** Write what is pending now (close, tests). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.save();
  }

  private logChanges(before: FirmwareUnitReport | undefined, now: UnitStatus): void {
    const r = now.report;
    const who = { unit: now.unit, kind: now.kind, relay: now.relay, program: r.program };
    if (
      before === undefined ||
      before.state !== r.state ||
      before.version !== r.version ||
      before.pendingVersion !== r.pendingVersion
    ) {
      this.log.info(
        { ...who, version: r.version, state: r.state, pendingVersion: r.pendingVersion },
        'firmware state',
      );
    }
    const failure = r.lastFailure;
    if (
      failure !== undefined &&
      (before?.lastFailure?.at !== failure.at || before.lastFailure.code !== failure.code)
    )
      this.log.warn({ ...who, ...failure }, 'firmware update failed');
    const refused = r.refused;
    if (refused !== undefined && (before?.refused?.at !== refused.at || before.refused.code !== refused.code))
      this.log.warn({ ...who, ...refused }, 'firmware bundle refused');
  }

  private schedule(): void {
    this.dirty = true;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** One write at a time; a change during a write is saved by the next. */
  private save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await writeFileAtomic(this.file, JSON.stringify({ units: this.list() }) + '\n');
      } catch (err) {
        this.dirty = true;
        this.log.error({ err: (err as Error).message, file: this.file }, 'firmware unit reports not saved');
      }
    });
    return this.saving;
  }
}

function key(kind: 'relay' | 'agent', unit: string): string {
  return `${kind}:${unit}`;
}
