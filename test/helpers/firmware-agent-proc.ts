/**
 * `owl-agent run` from its CLI for the firmware tests: a config file naming the fake relay, a
 * state dir, the slot root and the pinned keys; collectors on every second (so batches come and
 * are acknowledged), discovery off. The process's JSON log lines are kept (OwlProcess).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OwlProcess } from './owl-cli.js';

export interface AgentRun {
  dir: string;
  root?: string;
  keys: string[];
  relay: string;
  /** The zone token (a real relay wants one). */
  token?: string;
  chunkBytes?: number;
  checkIntervalMs?: number;
}

export function agentPaths(dir: string): { stateDir: string; firmwareDir: string } {
  const stateDir = join(dir, 'agent-state');
  return { stateDir, firmwareDir: join(stateDir, 'firmware') };
}

/** Starts the agent; resolves once it logged "owl-agent running". */
export async function startFirmwareAgent(o: AgentRun): Promise<OwlProcess> {
  const { stateDir } = agentPaths(o.dir);
  const pluginDir = join(o.dir, 'plugins');
  mkdirSync(pluginDir, { recursive: true });
  const file = join(o.dir, 'agent.json');
  writeFileSync(
    file,
    JSON.stringify({
      relays: [o.relay],
      ...(o.token ? { token: o.token } : {}),
      stateDir,
      pluginDir,
      collectInterval: 1,
      collectors: ['load'],
      discovery: { portsInterval: 0, assetsInterval: 0 },
      firmware: {
        ...(o.root ? { root: o.root } : {}),
        keys: o.keys,
        checkIntervalMs: o.checkIntervalMs ?? 1000,
        ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}),
      },
    }),
  );
  const agent = OwlProcess.start('agent', ['run', '--config', file]);
  await agent.waitLog((l) => l.msg === 'owl-agent running', '"owl-agent running" line');
  return agent;
}
