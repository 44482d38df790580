/**
 * The last HOSTCONFIGRESP, kept in `<stateDir>/host.json` (as v3 kept it in
 * var/host.json), so plugins start at once on boot with no relay reachable.
 * Checked with the same rules as a HOSTCONFIGRESP off the wire: a damaged
 * file is reported and ignored, never a crash.
 */
import { join } from 'node:path';
import { parseAgentBound, PacketType, type Host } from '../protocol/wire/index.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';

export function hostCachePath(stateDir: string): string {
  return join(stateDir, 'host.json');
}

/** Parse a stored host config (ours or a v3 var/host.json); throws a coded PacketError when it is not one. */
export function parseHost(text: string): Host {
  const packet = parseAgentBound({ type: PacketType.HOSTCONFIGRESP, body: Buffer.from(text) });
  return packet.body as Host;
}

/** The cached host config, or undefined when there is none. Throws when the file is damaged. */
export async function loadHostCache(path: string): Promise<Host | undefined> {
  const text = await readFileIfExists(path);
  return text === undefined ? undefined : parseHost(text);
}

export async function saveHostCache(path: string, host: Host): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(host));
}
