/**
 * The host's identity: a UUID made once and kept in `<stateDir>/uuid`; the
 * agent never changes it on its own (the registry, the relay's config cache
 * and every series are keyed by it). Made from, in order: the uuid of a v3
 * td-client being replaced (so the host keeps its history), the DMI product
 * UUID where readable (root only on most systems), /etc/machine-id, or
 * random. machine-id is confidential by systemd's rules, so it is hashed
 * with an application key first, as sd_id128_get_machine_app_specific does.
 */
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';

export interface IdentitySources {
  /** Default /sys/class/dmi/id/product_uuid. */
  dmiProductUuid?: string;
  /** Default /etc/machine-id. */
  machineId?: string;
  /** The uuid of the v3 agent this one replaces (its var/host.json). */
  v3Uuid?: string;
}

export type IdentitySource = 'state' | 'v3' | 'dmi' | 'machine-id' | 'random';

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** Firmware placeholders that many boards ship instead of a real UUID. */
const PLACEHOLDERS = new Set([
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '03000200-0400-0500-0006-000700080009',
]);

export async function loadIdentity(
  stateDir: string,
  sources: IdentitySources = {},
): Promise<{ uuid: string; source: IdentitySource }> {
  const path = join(stateDir, 'uuid');
  const kept = (await readFileIfExists(path))?.trim();
  if (kept) return { uuid: kept, source: 'state' };
  const made = await makeIdentity(sources);
  await writeFileAtomic(path, `${made.uuid}\n`);
  return made;
}

async function makeIdentity(sources: IdentitySources): Promise<{ uuid: string; source: IdentitySource }> {
  if (sources.v3Uuid) return { uuid: sources.v3Uuid, source: 'v3' };
  // Loaded only the first time: node:crypto costs the agent 5 MB of RSS for the rest of its life.
  const { createHmac, randomUUID } = await import('node:crypto');
  const dmi = (await readQuietly(sources.dmiProductUuid ?? '/sys/class/dmi/id/product_uuid'))
    ?.trim()
    .toLowerCase();
  if (dmi && UUID_RE.test(dmi) && !PLACEHOLDERS.has(dmi)) return { uuid: dmi, source: 'dmi' };
  const machineId = (await readQuietly(sources.machineId ?? '/etc/machine-id'))?.trim();
  if (machineId && /^[0-9a-f]{32}$/i.test(machineId)) {
    const hex = createHmac('sha256', machineId).update('owl-agent host id').digest('hex');
    return { uuid: formatUuid(hex), source: 'machine-id' };
  }
  return { uuid: randomUUID(), source: 'random' };
}

/** 32 hex digits as a version-4-shaped UUID (variant and version bits set, like sd_id128's). */
function formatUuid(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

async function readQuietly(path: string): Promise<string | undefined> {
  try {
    return await readFileIfExists(path);
  } catch {
    return undefined; // EACCES: the DMI uuid is root-only on most systems
  }
}
