/**
 * FIRMWARE_REPORT: the firmware state of the relay itself and of the agents that sent FWCHECK
 * since start. After each WELCOME every unit goes up; later only a unit that changed.
 */
import type { FirmwareUnitReport } from '../../protocol/index.js';

/** Agents remembered; the oldest are forgotten past it (they report again at their next check). */
const MAX_AGENTS = 20_000;

export interface ReporterOptions {
  /** The relay's own unit as it is now (`t` is set on sending). */
  self(): Omit<FirmwareUnitReport, 't'>;
  /** Send FIRMWARE_REPORT; false when not connected (everything goes at the next WELCOME). */
  send(units: FirmwareUnitReport[]): boolean;
  now(): number;
}

export class FirmwareReporter {
  private readonly agents = new Map<string, FirmwareUnitReport>();

  constructor(private readonly options: ReporterOptions) {}

  /** Everything known, after a WELCOME. */
  connected(): void {
    this.options.send([this.selfNow(), ...this.agents.values()]);
  }

  /** The relay's own state changed. */
  selfChanged(): void {
    this.options.send([this.selfNow()]);
  }

  /** An agent's FWCHECK, as a unit report with its HELLO uuid. */
  agent(report: FirmwareUnitReport & { uuid: string }): void {
    this.agents.delete(report.uuid);
    this.agents.set(report.uuid, report);
    if (this.agents.size > MAX_AGENTS) this.agents.delete(this.agents.keys().next().value as string);
    this.options.send([report]);
  }

  get agentCount(): number {
    return this.agents.size;
  }

  private selfNow(): FirmwareUnitReport {
    return { ...this.options.self(), t: this.options.now() };
  }
}
