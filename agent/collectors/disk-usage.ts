/**
 * disk: space and inodes of each mounted filesystem, from /proc/self/mounts
 * and statfs(2). Only filesystems that hold data on this host are measured.
 */
import { readFile, statfs } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { pct, words } from './text.js';

export interface Mount {
  device: string;
  mount: string;
  fstype: string;
}

/**
 * Kernel and virtual filesystems: no blocks of their own. squashfs (snaps,
 * live images) is always 100 % full; overlay is one mount per container on
 * a Docker host, each reporting the backing filesystem again.
 */
const PSEUDO = new Set(
  (
    'autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs efivarfs fusectl fuse.gvfsd-fuse ' +
    'fuse.lxcfs fuse.portal hugetlbfs mqueue nfsd nsfs overlay proc pstore ramfs rpc_pipefs securityfs ' +
    'selinuxfs squashfs sysfs tracefs'
  ).split(' '),
);

/** Network filesystems: statfs on a dead server blocks a libuv thread for minutes, so they are opt-in. */
const NETWORK = new Set(
  'nfs nfs4 cifs smb3 smbfs ceph glusterfs fuse.glusterfs fuse.sshfs 9p afs'.split(' '),
);

export interface DiskUsageOptions {
  /** Measure tmpfs mounts too (off: they are memory, already in `mem`). */
  tmpfs?: boolean;
  /** Measure network filesystems too (off: see NETWORK). */
  network?: boolean;
}

function isOctal(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 55;
}

/** /proc/mounts escapes blanks and backslashes in paths as octal (`\040` for a space). */
export function unescapeMountPath(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const code = s[i] === '\\' ? parseInt(s.slice(i + 1, i + 4), 8) : NaN;
    if (!Number.isNaN(code) && isOctal(s, i + 1) && isOctal(s, i + 2) && isOctal(s, i + 3)) {
      out += String.fromCharCode(code);
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

/**
 * The mounts to measure, in mount order. A device mounted more than once
 * (bind mounts, btrfs subvolumes) is the same space: only its first mount is kept.
 */
export function parseMounts(text: string, options: DiskUsageOptions = {}): Mount[] {
  const out: Mount[] = [];
  const devices = new Set<string>();
  for (const line of text.split('\n')) {
    const [device, rawMount, fstype] = words(line);
    if (device === undefined || rawMount === undefined || fstype === undefined) continue;
    if (PSEUDO.has(fstype)) continue;
    if (fstype === 'tmpfs' && options.tmpfs !== true) continue;
    if (NETWORK.has(fstype) && options.network !== true) continue;
    // `tmpfs`, `none` and the like name no device: every such mount is distinct.
    if (device.startsWith('/')) {
      if (devices.has(device)) continue;
      devices.add(device);
    }
    out.push({ device, mount: unescapeMountPath(rawMount), fstype });
  }
  return out;
}

/** The statfs figures used, as `fs.statfs` returns them. */
export interface FsStats {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** Readings for one filesystem. used_pct is used / (used + available to non-root), as df prints it. */
export function usageReadings(m: Mount, s: FsStats): Reading[] {
  const tags = { mount: m.mount, device: m.device, fstype: m.fstype };
  const total = s.blocks * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const free = s.bavail * s.bsize;
  const out: Reading[] = [
    { metric: 'total', value: total, kind: 'gauge', tags },
    { metric: 'used', value: used, kind: 'gauge', tags },
    { metric: 'free', value: free, kind: 'gauge', tags },
    { metric: 'used_pct', value: pct(used, used + free), kind: 'gauge', tags },
  ];
  // btrfs, vfat and others have no inode table: files is 0.
  if (s.files > 0) {
    const iused = s.files - s.ffree;
    out.push(
      { metric: 'inodes_total', value: s.files, kind: 'gauge', tags },
      { metric: 'inodes_used', value: iused, kind: 'gauge', tags },
      { metric: 'inodes_free', value: s.ffree, kind: 'gauge', tags },
      { metric: 'inodes_used_pct', value: pct(iused, s.files), kind: 'gauge', tags },
    );
  }
  return out;
}

/** How long one round waits for a filesystem before leaving it out. */
const STATFS_WAIT_MS = 5000;

export interface DiskUsageCollectorOptions extends DiskUsageOptions {
  procRoot?: string;
  /** Prefix of the mount paths for statfs, when the host's root is mounted elsewhere (an agent in a container). */
  rootPath?: string;
}

export function diskUsageCollector(options: DiskUsageCollectorOptions = {}): Collector {
  const path = `${options.procRoot ?? '/proc'}/self/mounts`;
  const root = options.rootPath ?? '';
  // statfs calls not answered yet: a hung mount holds one libuv thread, not one per round.
  const pending = new Map<string, Promise<FsStats | undefined>>();

  // A mount still unanswered from an earlier round is skipped, not asked again.
  const stats = (mount: string): Promise<FsStats | undefined> => {
    if (pending.has(mount)) return Promise.resolve(undefined);
    const p = statfs(root + mount).then(
      (s) => s,
      () => undefined, // unmounted since, or not ours to read
    );
    pending.set(mount, p);
    void p.finally(() => pending.delete(mount));
    return p;
  };

  return {
    name: 'disk',
    read: async () => {
      const mounts = parseMounts(await readFile(path, 'utf8'), options);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, STATFS_WAIT_MS, undefined);
        timer.unref();
      });
      try {
        const all = await Promise.all(mounts.map((m) => Promise.race([stats(m.mount), timeout])));
        const out: Reading[] = [];
        for (let i = 0; i < mounts.length; i++) {
          const s = all[i];
          if (s !== undefined) out.push(...usageReadings(mounts[i]!, s));
        }
        return out;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
