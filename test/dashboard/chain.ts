/**
 * The real chain behind a dashboard test or screenshot: `owl-upstream run` and `owl-relay run`
 * from their CLIs, and v4 agents (HELLO, HOSTCONFIG, SERIESBATCH, ACKs) sending through a relay.
 */
import { join } from 'node:path';
import { PacketType, UPLINK_PATH, type BatchSample } from '../../protocol/index.js';
import { TestAgent } from '../helpers/agent-client.js';
import {
  addRelay,
  bothEndsConnected,
  startRelayCli,
  startUpstreamCli,
  type RelayCli,
  type UpstreamCli,
} from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

export const ZONE_TOKEN = 'zone-token-0123456789';

export class DashboardChain {
  readonly relays = new Map<string, RelayCli>();

  private constructor(
    readonly up: UpstreamCli,
    private readonly dir: { path: string; remove: () => void },
  ) {}

  static async start(): Promise<DashboardChain> {
    const dir = tempDir('owl-dashboard-');
    try {
      return new DashboardChain(await startUpstreamCli(join(dir.path, 'upstream')), dir);
    } catch (err) {
      dir.remove();
      throw err;
    }
  }

  /** Add relay `id` to the upstream and start it (its zone is `id`). */
  async startRelay(id: string): Promise<RelayCli> {
    const token = await addRelay(this.up.api, id);
    const relay = await startRelayCli({
      stateDir: join(this.dir.path, id),
      relayId: id,
      token,
      upstreamUrl: `ws://127.0.0.1:${this.up.uplinkPort}${UPLINK_PATH}`,
      zoneToken: ZONE_TOKEN,
    });
    this.relays.set(id, relay);
    // An agent's HOSTCONFIG is answered through the uplink: wait until it is up.
    await bothEndsConnected(this.up.api, relay, id);
    return relay;
  }

  /** Kill every process and remove the state dirs. */
  async close(): Promise<void> {
    for (const r of this.relays.values()) await r.proc.kill();
    await this.up.proc.kill();
    this.dir.remove();
  }
}

/**
 * A v4 agent on `relay`: HELLO, HOSTCONFIG (the upstream registers the host in the relay's zone),
 * then `samples` in SERIESBATCHes of at most 500, each ACKed (durable at the relay) before it returns.
 */
export async function sendThroughRelay(
  relay: RelayCli,
  host: { uuid: string; hostname: string; ip?: string },
  samples: BatchSample[],
): Promise<void> {
  const agent = await TestAgent.connect(relay.agentPort);
  try {
    agent.send(PacketType.HELLO, {
      version: 1,
      features: ['batch', 'ack'],
      uuid: host.uuid,
      token: ZONE_TOKEN,
      agent: 'owl-agent/0.1.0',
    });
    await agent.next(PacketType.HELLO);
    agent.send(PacketType.HOSTCONFIG, {
      uuid: host.uuid,
      hostname: host.hostname,
      ...(host.ip === undefined ? {} : { ip: host.ip }),
      os: 'Linux',
      kernel: '6.1.0',
    });
    await agent.next(PacketType.HOSTCONFIGRESP, 20_000);
    const session = `s-${host.uuid}`;
    let seq = 0;
    for (let i = 0; i < samples.length; i += 500) {
      seq++;
      agent.send(PacketType.SERIESBATCH, {
        session,
        seq,
        uuid: host.uuid,
        ...(host.ip === undefined ? {} : { ip: host.ip }),
        samples: samples.slice(i, i + 500),
      });
    }
    for (let s = 1; s <= seq; s++) await agent.next(PacketType.ACK, 20_000);
  } finally {
    agent.end();
  }
}
