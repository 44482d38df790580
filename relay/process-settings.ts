/**
 * The Node and glibc settings a relay process runs with (config `memory`):
 * V8's main-thread semi-space (a node flag) and glibc's malloc arenas (an
 * environment variable). Neither can change once a process runs, so
 * `owl-relay run` replaces itself, before it opens anything, by the same
 * command with them (process.execve: same pid, same stdio, same arguments;
 * Node 23.11 and later). Flags or variables the operator gave (node
 * --max-semi-space-size, NODE_OPTIONS, MALLOC_ARENA_MAX) win over the config.
 */
import type { RelayConfig } from './config.js';

/** Set in the environment of the replaced process, so it does not replace itself again. */
const APPLIED = 'OWL_RELAY_PROCESS_SETTINGS';

export interface ProcessSettings {
  /** Node flags to add (before the script). */
  nodeFlags: string[];
  /** Environment variables to add. */
  env: Record<string, string>;
}

/** What `config.memory` asks of the process, minus what this process's flags and environment already say. */
export function relayProcessSettings(
  config: RelayConfig,
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): ProcessSettings {
  const out: ProcessSettings = { nodeFlags: [], env: {} };
  const { semiSpaceMiB, mallocArenas } = config.memory;
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (semiSpaceMiB > 0 && !given.some((f) => f.startsWith('--max-semi-space-size'))) {
    out.nodeFlags.push(`--max-semi-space-size=${semiSpaceMiB}`);
  }
  if (mallocArenas > 0 && env.MALLOC_ARENA_MAX === undefined) {
    out.env.MALLOC_ARENA_MAX = String(mallocArenas);
  }
  return out;
}

/**
 * Run with `config.memory`'s process settings: if this process lacks them, replace it by one that
 * has them (this call then never returns). Returns false when it runs without them: nothing to
 * change, already replaced once, or Node cannot (no process.execve).
 */
export function applyRelayProcessSettings(config: RelayConfig): boolean {
  if (process.env[APPLIED] !== undefined) return false;
  const settings = relayProcessSettings(config);
  if (settings.nodeFlags.length === 0 && Object.keys(settings.env).length === 0) return false;
  if (typeof process.execve !== 'function') return false;
  const args = [process.execPath, ...settings.nodeFlags, ...process.execArgv, ...process.argv.slice(1)];
  process.execve(process.execPath, args, { ...process.env, ...settings.env, [APPLIED]: '1' });
  return false; // not reached: execve replaced this process
}
