/**
 * Replacing a v3 td-client: point owl-agent at its directory (`v3Dir`) and
 * it takes over what matters from there, read only, never written:
 *
 * - `conf/client.conf` (or `client.conf`): `key = value` lines, `#` or `;`
 *   comments. `tcp_server` (one or more `host:port`, comma or space
 *   separated) becomes the relay list, `host_update_interval` (minutes) the
 *   HOSTCONFIG interval, `plugin_dir` the plugin directory. Other keys are
 *   listed as ignored, so nothing is dropped silently.
 * - `var/host.json`: the uuid (the host keeps its identity and history) and
 *   the last HOSTCONFIGRESP (its plugins run at once, before any relay
 *   answers).
 * - `plugins/`: the plugin directory when client.conf names none.
 *
 * Values from here fill what the agent's own config leaves unset.
 */
import { join } from 'node:path';
import type { Host } from '../protocol/wire/index.js';
import { readFileIfExists } from './atomic-file.js';
import { parseHost } from './host-cache.js';

export interface V3Settings {
  relays?: string[];
  hostUpdateInterval?: number;
  pluginDir: string;
  uuid?: string;
  host?: Host;
  /** client.conf keys read but without a meaning here. */
  ignored: string[];
  /** Which files were found. */
  files: string[];
}

const KNOWN = new Set(['tcp_server', 'host_update_interval', 'plugin_dir']);

/** Parse client.conf text: `key = value` (or `key: value`) lines; throws naming the line on anything else. */
export function parseClientConf(text: string, file = 'client.conf'): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || /^\[.*\]$/.test(line)) continue;
    const m = /^([A-Za-z0-9_.-]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: not a "key = value" line`);
    out.set(m[1]!.toLowerCase(), m[2]!.replace(/^"(.*)"$/, '$1').trim());
  }
  return out;
}

export async function readV3Dir(dir: string): Promise<V3Settings> {
  const files: string[] = [];
  const settings: V3Settings = { pluginDir: join(dir, 'plugins'), ignored: [], files };
  for (const candidate of [join(dir, 'conf', 'client.conf'), join(dir, 'client.conf')]) {
    const text = await readFileIfExists(candidate);
    if (text === undefined) continue;
    files.push(candidate);
    applyClientConf(settings, parseClientConf(text, candidate), dir);
    break;
  }
  const hostPath = join(dir, 'var', 'host.json');
  const hostText = await readFileIfExists(hostPath);
  if (hostText !== undefined) {
    files.push(hostPath);
    try {
      settings.host = parseHost(hostText);
    } catch (err) {
      throw new Error(`${hostPath}: not a v3 host config (${(err as Error).message})`);
    }
    settings.uuid = settings.host.uuid;
  }
  if (files.length === 0)
    throw new Error(
      `${dir}: no conf/client.conf, client.conf or var/host.json: not a v3 td-client directory`,
    );
  return settings;
}

function applyClientConf(settings: V3Settings, conf: Map<string, string>, dir: string): void {
  const server = conf.get('tcp_server');
  if (server) settings.relays = server.split(/[\s,]+/).filter(Boolean);
  const minutes = Number(conf.get('host_update_interval'));
  if (conf.has('host_update_interval') && Number.isFinite(minutes) && minutes > 0)
    settings.hostUpdateInterval = minutes * 60;
  const pluginDir = conf.get('plugin_dir');
  if (pluginDir) settings.pluginDir = pluginDir.startsWith('/') ? pluginDir : join(dir, pluginDir);
  settings.ignored = [...conf.keys()].filter((k) => !KNOWN.has(k));
}
