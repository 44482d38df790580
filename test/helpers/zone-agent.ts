/**
 * One zone on a running `owl-upstream run`: the relay added to the upstream, `owl-relay run`
 * started for it, and a LoadAgent (v4, the zone's token) connected to it. For chain tests that
 * need "an agent behind a relay" and then look at what reaches the upstream or its sinks.
 */
import { UPLINK_PATH } from '../../protocol/index.js';
import { LoadAgent, type LoadAgentOptions } from './load-agent.js';
import { addRelay, startRelayCli, type RelayCli, type UpstreamCli } from './owl-cli.js';

export interface ZoneAgent {
  relay: RelayCli;
  agent: LoadAgent;
  /** Close the agent, kill the relay. */
  close(): Promise<void>;
}

export async function startZoneAgent(
  up: UpstreamCli,
  o: { stateDir: string; zone: string; zoneToken: string; agent: Omit<LoadAgentOptions, 'token'> },
): Promise<ZoneAgent> {
  const relay = await startRelayCli({
    stateDir: o.stateDir,
    relayId: o.zone,
    token: await addRelay(up.api, o.zone),
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: o.zoneToken,
  });
  const agent = new LoadAgent({ ...o.agent, token: o.zoneToken });
  const close = async (): Promise<void> => {
    agent.close();
    await relay.proc.kill();
  };
  try {
    await agent.connect(relay.agentPort);
  } catch (err) {
    await close();
    throw err;
  }
  return { relay, agent, close };
}
