/**
 * agent/collectors: the parse functions on fixture text, edge cases
 * included (old kernels' missing columns, trailing blanks, tcp6 lines,
 * escaped mount paths, a table line split across read chunks).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  type Reading,
  parseStat,
  parseDiskstats,
  diskUsageCollector,
  parseMounts,
  unescapeMountPath,
  usageReadings,
  parseFileNr,
  parseLoadavg,
  memReadings,
  parseMeminfo,
  swapReadings,
  parseNetDev,
  countTcpText,
  newCounts,
  tcpReadings,
  lineState,
  scanTcpTable,
  words,
} from '../../agent/collectors/index.js';

/** The value of `metric` (with exactly these tags, or untagged). */
function value(readings: Reading[], metric: string, tags?: Record<string, string>): number | undefined {
  const key = JSON.stringify(tags ?? null);
  return readings.find((r) => r.metric === metric && JSON.stringify(r.tags ?? null) === key)?.value;
}

test('words: runs of blanks, tabs and trailing blanks give no empty fields', (t) => {
  t.deepEqual(words('  a \tb   c  \t'), ['a', 'b', 'c']);
  t.deepEqual(words(''), []);
  t.deepEqual(words('   '), []);
});

const STAT = `cpu  1153387 20 178329 763175 13457 5 20832 6247 100 0
cpu0 578318 10 86023 387087 3958 2 9380 3151 50 0
cpu1 575069 10 92305 376088 9499 3 11452 3095 50 0
intr 123456 0 9 0 0 0 0 0 0 1
ctxt 987654
btime 1700000000
processes 4321
procs_running 3
procs_blocked 1
softirq 555 0 1 2
`;

test('parseStat: seconds per state per cpu and total, cores, counters and gauges', (t) => {
  const r = parseStat(STAT);
  t.is(value(r, 'user_seconds', { cpu: 'total' }), 11533.87);
  t.is(value(r, 'idle_seconds', { cpu: '1' }), 3760.88);
  t.is(value(r, 'steal_seconds', { cpu: '0' }), 31.51);
  t.is(value(r, 'guest_seconds', { cpu: 'total' }), undefined, 'guest is already in user');
  t.is(value(r, 'cores'), 2);
  t.is(value(r, 'context_switches'), 987654);
  t.is(value(r, 'forks'), 4321);
  t.is(value(r, 'interrupts'), 123456);
  t.is(value(r, 'procs_running'), 3);
  t.is(value(r, 'procs_blocked'), 1);
  t.is(r.find((x) => x.metric === 'user_seconds')?.kind, 'counter');
  t.is(r.find((x) => x.metric === 'procs_running')?.kind, 'gauge');
});

test('parseStat: an old kernel without iowait..steal columns gives only the columns it has', (t) => {
  const r = parseStat('cpu 100 0 50 900\ncpu0 100 0 50 900\n');
  t.is(value(r, 'system_seconds', { cpu: 'total' }), 0.5);
  t.is(value(r, 'iowait_seconds', { cpu: 'total' }), undefined);
  t.is(r.length, 4 * 2 + 1);
});

const MEMINFO = `MemTotal:       16000000 kB
MemFree:         2000000 kB
MemAvailable:    8000000 kB
Buffers:          100000 kB
Cached:          5000000 kB
SwapTotal:       4000000 kB
SwapFree:        3000000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`;

test('memReadings/swapReadings: bytes, used = total - available, percentages', (t) => {
  const info = parseMeminfo(MEMINFO);
  t.is(info.get('HugePages_Total'), 0, 'unitless lines are counts');
  const mem = memReadings(info);
  t.is(value(mem, 'total'), 16000000 * 1024);
  t.is(value(mem, 'available'), 8000000 * 1024);
  t.is(value(mem, 'used'), 8000000 * 1024);
  t.is(value(mem, 'used_pct'), 50);
  t.is(value(mem, 'cached'), 5000000 * 1024);
  const swap = swapReadings(info);
  t.is(value(swap, 'used'), 1000000 * 1024);
  t.is(value(swap, 'used_pct'), 25);
});

test('memReadings: no MemAvailable (Linux < 3.14) estimates it; no swap gives zeros', (t) => {
  const info = parseMeminfo(
    'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n',
  );
  t.is(value(memReadings(info), 'available'), 400 * 1024);
  t.is(value(memReadings(info), 'used_pct'), 60);
  t.is(value(swapReadings(info), 'used_pct'), 0);
  t.deepEqual(memReadings(new Map()), []);
});

test('parseLoadavg: loads and tasks; a truncated line gives what it has', (t) => {
  const r = parseLoadavg('0.85 1.50 1.94 2/141 6114\n');
  t.is(value(r, 'load1'), 0.85);
  t.is(value(r, 'load15'), 1.94);
  t.is(value(r, 'tasks_running'), 2);
  t.is(value(r, 'tasks_total'), 141);
  t.deepEqual(
    parseLoadavg('0.1 0.2').map((x) => x.metric),
    ['load1', 'load5'],
  );
});

test('parseFileNr: trailing blanks and tabs; used_pct of max', (t) => {
  const r = parseFileNr('2000\t0\t100000   \n');
  t.is(value(r, 'allocated'), 2000);
  t.is(value(r, 'max'), 100000);
  t.is(value(r, 'used_pct'), 2);
  t.deepEqual(parseFileNr(''), []);
});

const DISKSTATS = `   7       0 loop0 10 0 80 1 0 0 0 0 0 4 1 0 0 0 0
 254       0 vda 185831 12329 5993954 132083 3019289 555856 93444728 790700 2 532916 1439740 446097 1201 1621824552 167716 908111 349240
 254       1 vda1 1000 0 2000 30 500 0 4000 60 0 90 90
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   8       1 sdb1 5 10 15 20
`;

test('parseDiskstats: counters in bytes and ms, in_flight gauge; loop/zram and old short lines skipped', (t) => {
  const r = parseDiskstats(DISKSTATS);
  const vda = { device: 'vda' };
  t.is(value(r, 'reads', vda), 185831);
  t.is(value(r, 'read_bytes', vda), 5993954 * 512);
  t.is(value(r, 'read_time_ms', vda), 132083);
  t.is(value(r, 'writes', vda), 3019289);
  t.is(value(r, 'write_bytes', vda), 93444728 * 512);
  t.is(value(r, 'write_time_ms', vda), 790700);
  t.is(value(r, 'in_flight', vda), 2);
  t.is(value(r, 'io_time_ms', vda), 532916);
  t.is(value(r, 'io_time_ms', { device: 'vda1' }), 90, 'partitions are kept');
  const devices = new Set(r.map((x) => x.tags?.device));
  t.deepEqual([...devices], ['vda', 'vda1']);
});

const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 4266 44 0 0 0 0 0 0 4266 44 0 0 0 0 0 0
  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0   
eth1:123456789 7 0 0 0 0 0 0 5 6 0 0 0 0 0 0
`;

test('parseNetDev: rx/tx counters per interface, lo skipped unless asked, no space after the colon', (t) => {
  const r = parseNetDev(NETDEV);
  t.is(value(r, 'rx_bytes', { interface: 'eth0' }), 1000);
  t.is(value(r, 'rx_drop', { interface: 'eth0' }), 2);
  t.is(value(r, 'tx_bytes', { interface: 'eth0' }), 2000);
  t.is(value(r, 'tx_drop', { interface: 'eth0' }), 4);
  t.is(value(r, 'rx_bytes', { interface: 'eth1' }), 123456789);
  t.is(value(r, 'rx_bytes', { interface: 'lo' }), undefined);
  t.is(value(parseNetDev(NETDEV, { loopback: true }), 'rx_bytes', { interface: 'lo' }), 4266);
  t.is(r.length, 16);
});

const MOUNTS = `proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw 0 0
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
/dev/vda /srv/bind ext4 rw 0 0
/dev/sdb1 /mnt/my\\040disk xfs rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/loop3 /snap/core/1 squashfs ro 0 0
srv:/export /mnt/nfs nfs4 rw 0 0
`;

test('parseMounts: real filesystems once per device, pseudo/tmpfs/network opt-outs, escaped paths', (t) => {
  t.deepEqual(parseMounts(MOUNTS), [
    { device: '/dev/vda', mount: '/', fstype: 'ext4' },
    { device: '/dev/sdb1', mount: '/mnt/my disk', fstype: 'xfs' },
  ]);
  const all = parseMounts(MOUNTS, { tmpfs: true, network: true }).map((m) => m.mount);
  t.deepEqual(all, ['/', '/dev/shm', '/mnt/my disk', '/mnt/nfs']);
  t.is(unescapeMountPath('a\\134b\\011c\\04'), 'a\\b\tc\\04');
});

test('usageReadings: df-style used_pct; inodes only where the fs has an inode table', (t) => {
  const m = { device: '/dev/vda', mount: '/', fstype: 'ext4' };
  const r = usageReadings(m, { bsize: 4096, blocks: 1000, bfree: 300, bavail: 200, files: 100, ffree: 25 });
  const tags = { mount: '/', device: '/dev/vda', fstype: 'ext4' };
  t.is(value(r, 'total', tags), 4096000);
  t.is(value(r, 'used', tags), 700 * 4096);
  t.is(value(r, 'free', tags), 200 * 4096);
  t.is(value(r, 'used_pct', tags), (700 / 900) * 100);
  t.is(value(r, 'inodes_used_pct', tags), 75);
  const btrfs = usageReadings(m, { bsize: 4096, blocks: 10, bfree: 10, bavail: 10, files: 0, ffree: 0 });
  t.is(btrfs.length, 4);
});

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 2001 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D000 01 00000000:00000000 00:00000000 00000000  1000        0 3002 1 0000000000000000 20 4 30 10 -1`;

test('tcp states: tcp and tcp6 summed under the v3 names, zeros included, header and no final newline', (t) => {
  const counts = newCounts();
  countTcpText(TCP, counts);
  countTcpText(TCP6, counts);
  const r = tcpReadings(counts);
  t.is(r.length, 11);
  t.is(value(r, 'TCP_LISTEN'), 2);
  t.is(value(r, 'TCP_ESTABLISHED'), 2);
  t.is(value(r, 'TCP_TIME_WAIT'), 1);
  t.is(value(r, 'TCP_CLOSING'), 0);
  t.deepEqual(
    r.map((x) => x.metric),
    [
      'TCP_ESTABLISHED',
      'TCP_SYN_SENT',
      'TCP_SYN_RECV',
      'TCP_FIN_WAIT1',
      'TCP_FIN_WAIT2',
      'TCP_TIME_WAIT',
      'TCP_CLOSE',
      'TCP_CLOSE_WAIT',
      'TCP_LAST_ACK',
      'TCP_LISTEN',
      'TCP_CLOSING',
    ],
  );
  t.true(r.every((x) => x.kind === 'gauge' && x.tags === undefined));
});

test('lineState: header and short lines are -1', (t) => {
  const b = (s: string) => Buffer.from(s);
  t.is(lineState(b('  sl  local_address rem_address   st tx'), 0, 40), -1);
  t.is(lineState(b('   0: 00000000:07E8 00000000:0000 0A'), 0, 36), 10);
  t.is(lineState(b('   0: 00000000:07E8'), 0, 19), -1);
});

test('scanTcpTable: lines straddling chunk boundaries are seen whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'owl-tcp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const line =
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 2001 1\n';
  const rows = 500;
  await writeFile(join(dir, 'tcp'), TCP.split('\n')[0] + '\n' + line.repeat(rows) + TCP.split('\n')[1]);
  const states: number[] = [];
  const texts = new Set<string>();
  // A 257-byte buffer: every read ends mid-line.
  await scanTcpTable(join(dir, 'tcp'), Buffer.alloc(257), (state, buf, start, end) => {
    states.push(state);
    texts.add(buf.toString('latin1', start, end).slice(0, 40));
  });
  t.is(states.length, rows + 1);
  t.is(states.filter((s) => s === 1).length, rows);
  t.is(states[rows], 10);
  t.is(texts.size, 2);
});

test('diskUsageCollector: mounts from a fixture tree, statfs on real paths, a vanished mount left out', async (t) => {
  const proc = await mkdtemp(join(tmpdir(), 'owl-mounts-'));
  t.teardown(() => rm(proc, { recursive: true, force: true }));
  await mkdir(join(proc, 'self'));
  await writeFile(
    join(proc, 'self/mounts'),
    `/dev/fake0 ${proc} ext4 rw 0 0\n/dev/fake1 ${proc}/gone xfs rw 0 0\n`,
  );
  const r = await diskUsageCollector({ procRoot: proc }).read();
  t.deepEqual([...new Set(r.map((x) => x.tags?.mount))], [proc]);
  t.true(r.find((x) => x.metric === 'total')!.value > 0);
});
