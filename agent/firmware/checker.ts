/**
 * FWCHECK: the agent's firmware report to its relay, which is also its "anything for me?". Sent
 * when a firmware session comes up, every `checkIntervalMs`, and on every update state change;
 * the relay answers with FWOFFER. Nothing is queued while no session is up: the next session
 * sends the state as it is then.
 */
import type { TimerHandle, Timers } from '../../protocol/wire/index.js';
import type { DownloadStatus } from './chunk-fetcher.js';
import type { Refusal } from './refusals.js';
import type { Runtime } from './runtime.js';
import type { FwCheck } from './wire.js';

/** The report as the relay forwards it upstream (FirmwareUnitReport's fields). */
export function checkBody(
  rt: Runtime,
  download: DownloadStatus | undefined,
  refused: Refusal | undefined,
): FwCheck {
  const s = rt.slots;
  const f = s?.lastFailure;
  return {
    program: 'owl-agent',
    arch: rt.arch,
    version: rt.version,
    state: s?.state ?? 'none',
    ...(s?.pending ? { pendingVersion: s.pending.toVersion } : {}),
    ...(download ? { download } : {}),
    ...(f ? { lastFailure: { code: f.code, reason: f.reason, version: f.version, at: f.at } } : {}),
    ...(refused ? { refused } : {}),
  };
}

export class FirmwareChecker {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly o: {
      timers: Timers;
      intervalMs: number;
      /** The report as of now. */
      body(): FwCheck;
      /** False when no firmware session is up. */
      send(body: FwCheck): boolean;
    },
  ) {}

  start(): void {
    this.timer = this.o.timers.setInterval(() => this.check(), this.o.intervalMs);
  }

  stop(): void {
    this.o.timers.clearInterval(this.timer);
  }

  /** Send the report now; false when no firmware session is up. */
  check(): boolean {
    return this.o.send(this.o.body());
  }
}
