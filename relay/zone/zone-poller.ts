/**
 * The relay's zone duties on a schedule: each device polled every its own
 * interval (a poll that overruns skips to the next slot rather than piling
 * up), at most `concurrency` polls at once; the zone's ports checked every
 * `portIntervalMs`. Results go to the sink, which spools them like agent
 * data. One log line per device state change (answering / silent), never one
 * per failed request.
 */
import type { BatchSample, NetDevice, Port, Timers, TimerHandle } from '../../protocol/index.js';
import { deviceLabel, type SnmpDevice } from './device.js';
import { DevicePoller, type PollResult } from './device-poller.js';
import { Limiter } from './limiter.js';
import { deviceId, fromNetDevice, interfacesUpdate, type NetDeviceV4 } from './net-device.js';
import { PortWatch } from './port-check.js';
import { SnmpSession } from './snmp-session.js';

export interface ZoneSink {
  /** Spool samples; resolves once durable. */
  samples(samples: BatchSample[]): Promise<void>;
  /** Devices whose interface table changed (v3 UPDATEDEVICES). */
  devices(updates: NetDevice[]): Promise<void>;
  /** Ports whose status changed (v3 UPDATEPORTS). */
  ports(changed: Port[]): Promise<void>;
}

export interface ZoneLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ZonePollerOptions {
  sink: ZoneSink;
  log: ZoneLog;
  timers: Timers;
  /** Device polls at once. */
  concurrency: number;
  portIntervalMs: number;
  portTimeoutMs: number;
  portConcurrency: number;
}

interface Running {
  source: NetDevice;
  poller: DevicePoller;
  session: SnmpSession;
  timer: TimerHandle | undefined;
  up: boolean | undefined;
  primedOnce: boolean;
  busy: boolean;
}

export class ZonePoller {
  private readonly devices = new Map<string, Running>();
  private readonly limiter: Limiter;
  private readonly watch: PortWatch;
  private ports: Port[] = [];
  private portTimer: TimerHandle | undefined;
  private portsBusy = false;
  private closed = false;
  /** Polls skipped because the previous one of that device was still running. */
  skipped = 0;

  constructor(private readonly options: ZonePollerOptions) {
    this.limiter = new Limiter(options.concurrency);
    this.watch = new PortWatch({
      timeoutMs: options.portTimeoutMs,
      concurrency: options.portConcurrency,
      now: () => options.timers.now(),
    });
  }

  /**
   * The zone's devices now: new ones start, removed ones stop, ones whose polling changed
   * restart. Only what polling uses is compared: the interface tables the relays report, merged
   * into the inventory upstream, come back in every answer and must not re-prime the counters.
   */
  setDevices(list: NetDeviceV4[]): void {
    const next = new Map(list.map((d) => [deviceId(d), d]));
    const polled = (d: NetDeviceV4): string => JSON.stringify(fromNetDevice(d));
    for (const [id, r] of this.devices) {
      const d = next.get(id);
      if (d === undefined || polled(d) !== polled(r.source)) this.stop(id);
      else r.source = d;
    }
    for (const [id, d] of next) if (!this.devices.has(id)) this.start(d);
  }

  /** The zone's ports now. */
  setPorts(ports: Port[]): void {
    this.ports = ports;
    if (this.portTimer === undefined && ports.length > 0 && !this.closed) {
      this.portTimer = this.options.timers.setInterval(
        () => void this.portRound(),
        this.options.portIntervalMs,
      );
      void this.portRound();
    }
  }

  /** Device ids and whether each answered its last poll. */
  status(): { device: string; up: boolean | undefined }[] {
    return [...this.devices].map(([device, r]) => ({ device, up: r.up }));
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.devices.keys()]) this.stop(id);
    this.options.timers.clearInterval(this.portTimer);
  }

  private start(source: NetDeviceV4): void {
    const device = fromNetDevice(source);
    const session = new SnmpSession(device, () => this.options.timers.now());
    const r: Running = {
      source,
      poller: new DevicePoller(device, session),
      session,
      timer: undefined,
      up: undefined,
      primedOnce: false,
      busy: false,
    };
    this.devices.set(device.id, r);
    r.timer = this.options.timers.setInterval(() => void this.pollOnce(r), device.intervalMs);
    void this.pollOnce(r);
  }

  private stop(id: string): void {
    const r = this.devices.get(id);
    if (r === undefined) return;
    this.options.timers.clearInterval(r.timer);
    r.session.close();
    this.devices.delete(id);
  }

  private async pollOnce(r: Running): Promise<void> {
    if (r.busy) {
      this.skipped++;
      return;
    }
    r.busy = true;
    try {
      const result = await this.limiter.run(() => r.poller.poll());
      if (this.devices.get(r.poller.device.id) !== r) return; // stopped meanwhile
      this.report(r, result);
      await this.options.sink.samples(result.samples);
      if (result.interfaces !== undefined)
        await this.options.sink.devices([interfacesUpdate(r.source, result.interfaces)]);
    } catch (err) {
      this.options.log.warn(
        { ...deviceLabel(r.poller.device), err: (err as Error).message },
        'device poll failed',
      );
    } finally {
      r.busy = false;
    }
  }

  /** One line when a device starts or stops answering, and once when it first primes. */
  private report(r: Running, result: PollResult): void {
    const label = deviceLabel(r.poller.device as SnmpDevice);
    if (result.up !== r.up) {
      if (result.up) this.options.log.info({ ...label, requests: result.requests }, 'device answering');
      else this.options.log.warn({ ...label, why: result.error }, 'device silent');
      r.up = result.up;
    }
    if (result.up && result.primed && !r.primedOnce) {
      r.primedOnce = true;
      this.options.log.info(label, 'device counters primed: rates from the next poll');
    }
  }

  private async portRound(): Promise<void> {
    if (this.portsBusy || this.ports.length === 0) return;
    this.portsBusy = true;
    try {
      const { samples, changed } = await this.watch.round(this.ports);
      await this.options.sink.samples(samples);
      if (changed.length > 0) await this.options.sink.ports(changed);
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'port checks failed');
    } finally {
      this.portsBusy = false;
    }
  }
}
