/**
 * One run of the zone-SNMP bench, inside the bench's network namespace:
 * `devices` devices polled every `intervalMs` for `seconds`, either by OWL's
 * poller (relay/zone) or v3's way (nine `snmpwalk` forks per device poll,
 * one per column, GETNEXT). Prints one JSON line: polls due, polls done in
 * their slot, CPU seconds of this process and its children over the window.
 *
 *   node --import tsx bench/lib/zone-snmp-main.ts <owl|v3> <devices> <seconds> <port> <community>
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { SYSTEM_TIMERS } from '../../protocol/index.js';
import { ZonePoller } from '../../relay/zone/index.js';

const run = promisify(execFile);
const [mode, devicesArg, secondsArg, portArg, community] = process.argv.slice(2);
const devices = Number(devicesArg);
const seconds = Number(secondsArg);
const port = Number(portArg);
const intervalMs = 1000;

/** utime+stime and cutime+cstime of this process, seconds (/proc/self/stat, clock ticks of 1/100 s). */
function cpu(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  const f = (i: number): number => Number(fields[i - 3]);
  return { self: (f(14) + f(15)) / 100, children: (f(16) + f(17)) / 100 };
}

/** v3's columns: the nine counters, status and speed came from nine walks. */
const V3_COLUMNS = [10, 11, 13, 14, 15, 16, 17, 19, 20].map((c) => `1.3.6.1.2.1.2.2.1.${c}`);

async function v3Poll(): Promise<void> {
  for (const col of V3_COLUMNS)
    await run('snmpwalk', [
      '-v2c',
      '-c',
      community ?? '',
      '-On',
      '-t',
      '6',
      '-r',
      '0',
      `127.0.0.1:${port}`,
      col,
    ]);
}

async function main(): Promise<void> {
  let due = 0;
  let done = 0;
  let failed = 0;
  const start = cpu();
  const startedAt = Date.now();
  const stops: Array<() => void> = [];
  if (mode === 'owl') {
    const zone = new ZonePoller({
      sink: {
        samples: async (s) => {
          const up = s.find((x) => x.metric === 'snmp.up');
          if (up?.value === 1) done++;
          else if (up?.value === 0) failed++;
        },
        devices: async () => undefined,
        ports: async () => undefined,
      },
      log: { info: () => undefined, warn: () => undefined },
      timers: SYSTEM_TIMERS,
      concurrency: Number(process.env['OWL_BENCH_CONCURRENCY'] ?? 64),
      portIntervalMs: 60_000,
      portTimeoutMs: 1000,
      portConcurrency: 1,
    });
    zone.setDevices(
      Array.from({ length: devices }, (_, i) => ({
        id: i,
        ip: '127.0.0.1',
        snmp_port: port,
        snmp_community: community ?? '',
        update_interval: intervalMs / 1000,
        snmp_timeout_ms: 6000,
        snmp_retries: 0,
      })),
    );
    stops.push(() => zone.close());
  } else {
    for (let i = 0; i < devices; i++) {
      let busy = false;
      const tick = (): void => {
        if (busy) return;
        busy = true;
        v3Poll().then(
          () => {
            done++;
            busy = false;
          },
          () => {
            busy = false;
          },
        );
      };
      const timer = setInterval(tick, intervalMs);
      tick();
      stops.push(() => clearInterval(timer));
    }
  }
  // Every device has one poll due at start and one per interval after; the window closes just
  // before the poll due at its end, so that one is not counted.
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - 50));
  due = devices * Math.ceil((Date.now() - startedAt) / intervalMs);
  const end = cpu();
  for (const stop of stops) stop();
  process.stdout.write(
    JSON.stringify({
      mode,
      devices,
      due,
      done: Math.min(done, due),
      failed,
      cpuSelf: end.self - start.self,
      cpuChildren: end.children - start.children,
      seconds: (Date.now() - startedAt) / 1000,
    }) + '\n',
  );
  process.exit(0);
}

await main();
