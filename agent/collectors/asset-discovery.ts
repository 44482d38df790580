/**
 * Hardware inventory (ASSESTDISCOVERY) from /sys and /proc only: DMI ids,
 * one CPU entry per physical package, memory modules from a dmidecode output
 * file when one is given (dmidecode needs root and a program run, which the
 * agent does not do) or else the total from /proc/meminfo, disks from
 * /sys/block and physical NICs from /sys/class/net.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { AssetDiscovery, Cpu, Disk, Memory, Nic } from '../../protocol/wire/index.js';
import { skipBlockDevice } from './disk-io.js';
import { parseMeminfo } from './memory.js';
import { readOptional } from './text.js';

export interface AssetOptions {
  procRoot?: string;
  sysRoot?: string;
  /** A file holding `dmidecode -t memory` output (written by root, e.g. at boot) for per-module memory. */
  dmidecodeMemoryFile?: string;
}

/** Values firmware leaves in unset DMI fields: sent as absent, not as a vendor called "To be filled by O.E.M.". */
const PLACEHOLDERS = new Set([
  '',
  'none',
  'n/a',
  'na',
  'not specified',
  'not available',
  'not present',
  'unknown',
  'default string',
  'to be filled by o.e.m.',
  'system serial number',
  'system manufacturer',
  'system product name',
  '0123456789',
]);

export function clean(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || PLACEHOLDERS.has(v.toLowerCase()) ? undefined : v;
}

/** Blank-line separated `key : value` blocks, as /proc/cpuinfo and dmidecode print them. */
function blocks(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      cur = undefined;
      continue;
    }
    if (cur === undefined) {
      cur = new Map();
      out.push(cur);
    }
    const colon = line.indexOf(':');
    if (colon > 0) cur.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    else cur.set(line.trim(), '');
  }
  return out;
}

/**
 * One entry per physical package (socket), which is what an inventory
 * counts, not one per logical processor. ARM and some VMs print no
 * `physical id`: their processors are taken as one package.
 */
export function parseCpuinfo(text: string): Cpu[] {
  const packages = new Map<string, Cpu>();
  for (const b of blocks(text)) {
    if (!b.has('processor')) continue;
    const id = b.get('physical id') ?? '0';
    if (packages.has(id)) continue;
    const cpu: Cpu = { name: `cpu${id}` };
    const model = clean(b.get('model name') ?? b.get('Processor'));
    const vender = clean(b.get('vendor_id'));
    if (model !== undefined) cpu.model = model;
    if (vender !== undefined) cpu.vender = vender;
    packages.set(id, cpu);
  }
  return [...packages.values()];
}

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  bytes: 1,
  kB: 1024,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** A dmidecode size such as `16 GB` or `16384 MB` in bytes; undefined for `No Module Installed`. */
export function parseDmiSize(size: string | undefined): number | undefined {
  const [n, unit] = (size ?? '').split(' ');
  const scale = SIZE_UNITS[unit ?? ''];
  const v = Number(n);
  return scale === undefined || !(v > 0) ? undefined : v * scale;
}

/** Installed modules from `dmidecode -t memory` (type 17 "Memory Device" blocks); empty slots left out. */
export function parseDmidecodeMemory(text: string): Memory[] {
  const out: Memory[] = [];
  for (const b of blocks(text)) {
    if (!b.has('Memory Device')) continue;
    const size = parseDmiSize(b.get('Size'));
    if (size === undefined) continue;
    const m: Memory = { size };
    const fields: [keyof Memory, string][] = [
      ['locator', 'Locator'],
      ['speed', 'Speed'],
      ['vender', 'Manufacturer'],
      ['sn', 'Serial Number'],
    ];
    for (const [key, dmi] of fields) {
      const v = clean(b.get(dmi));
      if (v !== undefined) m[key] = v;
    }
    out.push(m);
  }
  return out;
}

async function readMemory(procRoot: string, dmidecodeFile: string | undefined): Promise<Memory[]> {
  if (dmidecodeFile !== undefined) {
    const text = await readOptional(dmidecodeFile);
    if (text !== undefined) return parseDmidecodeMemory(text);
  }
  const total = parseMeminfo(await readFile(`${procRoot}/meminfo`, 'utf8').catch(() => '')).get('MemTotal');
  // Without dmidecode, one entry for all memory the kernel sees.
  return total === undefined ? [] : [{ locator: 'total', size: total }];
}

/** Whether a /sys/class or /sys/block entry links under /sys/devices/virtual (lo, bridges, veth, dm, loop). */
async function isVirtual(path: string): Promise<boolean> {
  try {
    return (await readlink(path)).includes('/devices/virtual/');
  } catch {
    return false; // not a link: a plain directory (a test tree) is taken as physical
  }
}

/** Disks: size in 512-byte sectors; rotational 0 is flash. `slot` carries the kernel name (sda, nvme0n1). */
async function readDisks(sysRoot: string): Promise<Disk[]> {
  const names = await readdir(`${sysRoot}/block`).catch(() => [] as string[]);
  const out: Disk[] = [];
  for (const name of names.sort()) {
    const dir = `${sysRoot}/block/${name}`;
    if (skipBlockDevice(name) || (await isVirtual(dir))) continue;
    const sectors = Number(await readOptional(`${dir}/size`));
    if (!(sectors > 0)) continue; // an empty card reader or CD drive
    const disk: Disk = { slot: name, capacity: sectors * 512 };
    const rotational = await readOptional(`${dir}/queue/rotational`);
    if (rotational !== undefined) disk.media = rotational === '0' ? 'ssd' : 'hdd';
    const product = clean(await readOptional(`${dir}/device/model`));
    const vender = clean(await readOptional(`${dir}/device/vendor`));
    // virtio puts the serial on the disk, NVMe and some SCSI on the device; often root-only.
    const sn = clean((await readOptional(`${dir}/serial`)) ?? (await readOptional(`${dir}/device/serial`)));
    if (product !== undefined) disk.product_id = product;
    if (vender !== undefined) disk.vender = vender;
    if (sn !== undefined) disk.sn = sn;
    out.push(disk);
  }
  return out;
}

/** Physical interfaces: name, MAC, and the driver (e.g. ixgbe) as description. */
async function readNics(sysRoot: string): Promise<Nic[]> {
  const names = await readdir(`${sysRoot}/class/net`).catch(() => [] as string[]);
  const out: Nic[] = [];
  for (const name of names.sort()) {
    const dir = `${sysRoot}/class/net/${name}`;
    if (name === 'lo' || (await isVirtual(dir))) continue;
    const nic: Nic = { name };
    const mac = clean(await readOptional(`${dir}/address`));
    const driver = await readlink(`${dir}/device/driver`).catch(() => undefined);
    if (mac !== undefined) nic.mac = mac;
    if (driver !== undefined) nic.description = driver.slice(driver.lastIndexOf('/') + 1);
    out.push(nic);
  }
  return out;
}

/** The inventory of this host; fields that cannot be read (root-only serials, no DMI on ARM) are left out. */
export async function discoverAssets(uuid: string, options: AssetOptions = {}): Promise<AssetDiscovery> {
  const procRoot = options.procRoot ?? '/proc';
  const sysRoot = options.sysRoot ?? '/sys';
  const dmi = `${sysRoot}/class/dmi/id`;
  const asset: AssetDiscovery = { uuid };
  const vender = clean(await readOptional(`${dmi}/sys_vendor`));
  const model = clean(await readOptional(`${dmi}/product_name`));
  const sn = clean(await readOptional(`${dmi}/product_serial`));
  if (vender !== undefined) asset.vender = vender;
  if (model !== undefined) asset.model = model;
  if (sn !== undefined) asset.sn = sn;
  asset.cpus = parseCpuinfo(await readFile(`${procRoot}/cpuinfo`, 'utf8').catch(() => ''));
  asset.memorys = await readMemory(procRoot, options.dmidecodeMemoryFile);
  asset.disks = await readDisks(sysRoot);
  asset.nics = await readNics(sysRoot);
  return asset;
}
