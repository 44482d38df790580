/**
 * agent/collectors: port discovery (address decoding, a real listening
 * server found with this process's name) and asset discovery (a fixture
 * /sys and /proc tree built per test, then this machine's).
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import {
  discoverAssets,
  discoverPorts,
  clean,
  parseCpuinfo,
  parseDmiSize,
  parseDmidecodeMemory,
  formatIpv6,
  parseAddress,
  parseListenLine,
} from '../../agent/collectors/index.js';

test('parseAddress: IPv4 and IPv6 words in host byte order, both endiannesses', (t) => {
  t.deepEqual(parseAddress('0100007F:1F90', true), { ip: '127.0.0.1', port: 8080 });
  t.deepEqual(parseAddress('7F000001:1F90', false), { ip: '127.0.0.1', port: 8080 });
  t.deepEqual(parseAddress('00000000000000000000000000000000:0016', true), { ip: '::', port: 22 });
  t.deepEqual(parseAddress('00000000000000000000000001000000:0050', true), { ip: '::1', port: 80 });
  t.deepEqual(parseAddress('0000000000000000FFFF00000100007F:0050', true), {
    ip: '::ffff:127.0.0.1',
    port: 80,
  });
  t.deepEqual(parseAddress('B80D0120000000000000000001000000:01BB', true), { ip: '2001:db8::1', port: 443 });
  t.is(parseAddress('nonsense', true), undefined);
});

test('formatIpv6: the longest zero run is compressed, a single zero group is not', (t) => {
  const bytes = (groups: number[]) => groups.flatMap((g) => [g >> 8, g & 0xff]);
  t.is(formatIpv6(bytes([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1])), '2001:db8:0:1::1');
  t.is(formatIpv6(bytes([0xfe80, 0, 0, 0, 1, 2, 3, 4])), 'fe80::1:2:3:4');
  t.is(formatIpv6(bytes([1, 0, 2, 0, 3, 0, 4, 5])), '1:0:2:0:3:0:4:5');
});

test('parseListenLine: only LISTEN lines, with the inode', (t) => {
  const listen =
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0';
  t.deepEqual(parseListenLine(listen, true), { ip: '127.0.0.1', port: 8080, inode: '4242' });
  t.is(parseListenLine(listen.replace(' 0A ', ' 01 '), true), undefined);
  t.is(parseListenLine('  sl  local_address rem_address   st', true), undefined);
});

test('discoverPorts: a real server on 127.0.0.1 is found with this process name', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') return t.fail('no address');
  const comm = (await readFile(`/proc/${process.pid}/comm`, 'utf8')).trim();
  const ports = await discoverPorts();
  const mine = ports.filter((p) => p.port === address.port);
  t.deepEqual(mine, [{ port: address.port, ip: '127.0.0.1', proc_name: comm }]);
  t.true(
    ports.every((p, i) => i === 0 || ports[i - 1]!.port <= p.port),
    'sorted by port',
  );
});

test('parseCpuinfo: one entry per physical package; no physical id is one package', (t) => {
  const block = (proc: number, pkg: number) =>
    `processor\t: ${proc}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230\nphysical id\t: ${pkg}\n`;
  const text = [block(0, 0), block(1, 0), block(2, 1), block(3, 1)].join('\n');
  t.deepEqual(parseCpuinfo(text), [
    { name: 'cpu0', model: 'Intel(R) Xeon(R) Gold 6230', vender: 'GenuineIntel' },
    { name: 'cpu1', model: 'Intel(R) Xeon(R) Gold 6230', vender: 'GenuineIntel' },
  ]);
  t.deepEqual(parseCpuinfo('processor : 0\nBogoMIPS : 50.00\n\nprocessor : 1\nBogoMIPS : 50.00\n'), [
    { name: 'cpu0' },
  ]);
});

const DMIDECODE = `# dmidecode 3.3
Getting SMBIOS data from sysfs.

Handle 0x1100, DMI type 17, 84 bytes
Memory Device
\tArray Handle: 0x1000
\tSize: 16 GB
\tLocator: DIMM_A1
\tSpeed: 2933 MT/s
\tManufacturer: Samsung
\tSerial Number: 12345678

Handle 0x1101, DMI type 17, 84 bytes
Memory Device
\tSize: No Module Installed
\tLocator: DIMM_A2
\tManufacturer: Not Specified

Handle 0x1102, DMI type 17, 84 bytes
Memory Device
\tSize: 8192 MB
\tLocator: DIMM_B1
\tSpeed: Unknown
\tManufacturer: Not Specified
`;

test('parseDmidecodeMemory: installed modules in bytes, empty slots and placeholders left out', (t) => {
  t.deepEqual(parseDmidecodeMemory(DMIDECODE), [
    { size: 16 * 1024 ** 3, locator: 'DIMM_A1', speed: '2933 MT/s', vender: 'Samsung', sn: '12345678' },
    { size: 8192 * 1024 ** 2, locator: 'DIMM_B1' },
  ]);
  t.is(parseDmiSize('No Module Installed'), undefined);
  t.is(clean(' To Be Filled By O.E.M. '), undefined);
  t.is(clean(' Dell Inc. '), 'Dell Inc.');
});

async function put(root: string, path: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
}

test('discoverAssets: a fixture tree: DMI, disks, physical NICs, memory from dmidecode or meminfo', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'owl-assets-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const sys = join(root, 'sys');
  const proc = join(root, 'proc');
  await put(sys, 'class/dmi/id/sys_vendor', 'Dell Inc.\n');
  await put(sys, 'class/dmi/id/product_name', 'PowerEdge R640\n');
  // product_serial absent, as when it is root-only.
  await put(sys, 'block/sda/size', '3907029168\n');
  await put(sys, 'block/sda/queue/rotational', '1\n');
  await put(sys, 'block/sda/device/model', 'ST2000NM0055    \n');
  await put(sys, 'block/sda/device/vendor', 'ATA     \n');
  await put(sys, 'block/nvme0n1/size', '1000215216\n');
  await put(sys, 'block/nvme0n1/queue/rotational', '0\n');
  await put(sys, 'block/nvme0n1/device/serial', 'S4EWNX0N123456\n');
  await put(sys, 'block/loop0/size', '100\n');
  await put(sys, 'block/sr0/size', '0\n');
  await put(sys, 'devices/pci0000:00/net/eth0/address', '52:54:00:12:34:56\n');
  await put(sys, 'devices/virtual/net/docker0/address', '02:42:ac:11:00:01\n');
  // readlink is all that is asked of the driver link: its target need not exist.
  await mkdir(join(sys, 'devices/pci0000:00/net/eth0/device'), { recursive: true });
  await symlink(
    '../../../../../bus/pci/drivers/ixgbe',
    join(sys, 'devices/pci0000:00/net/eth0/device/driver'),
  );
  await mkdir(join(sys, 'class/net'), { recursive: true });
  await symlink('../../devices/pci0000:00/net/eth0', join(sys, 'class/net/eth0'));
  await symlink('../../devices/virtual/net/docker0', join(sys, 'class/net/docker0'));
  await put(
    proc,
    'cpuinfo',
    'processor : 0\nvendor_id : AuthenticAMD\nmodel name : AMD EPYC\nphysical id : 0\n',
  );
  await put(proc, 'meminfo', 'MemTotal: 1024 kB\n');

  const a = await discoverAssets('u-1', { procRoot: proc, sysRoot: sys });
  t.deepEqual(a, {
    uuid: 'u-1',
    vender: 'Dell Inc.',
    model: 'PowerEdge R640',
    cpus: [{ name: 'cpu0', model: 'AMD EPYC', vender: 'AuthenticAMD' }],
    memorys: [{ locator: 'total', size: 1024 * 1024 }],
    disks: [
      { slot: 'nvme0n1', capacity: 1000215216 * 512, media: 'ssd', sn: 'S4EWNX0N123456' },
      { slot: 'sda', capacity: 3907029168 * 512, media: 'hdd', product_id: 'ST2000NM0055', vender: 'ATA' },
    ],
    nics: [{ name: 'eth0', mac: '52:54:00:12:34:56', description: 'ixgbe' }],
  });

  await put(root, 'dmidecode.txt', DMIDECODE);
  const b = await discoverAssets('u-1', {
    procRoot: proc,
    sysRoot: sys,
    dmidecodeMemoryFile: join(root, 'dmidecode.txt'),
  });
  t.is(b.memorys?.length, 2);
});

test('discoverAssets: this machine has cpus, memory and no virtual NICs', async (t) => {
  const a = await discoverAssets('u-2');
  t.is(a.uuid, 'u-2');
  t.true((a.cpus?.length ?? 0) >= 1);
  t.true(Number(a.memorys?.[0]?.size) > 0);
  t.false(a.nics?.some((n) => n.name === 'lo') ?? false);
  t.true(a.disks?.every((d) => Number(d.capacity) > 0) ?? true);
});
