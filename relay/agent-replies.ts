/**
 * The v3 requests an agent (or a v3 proxy) sends and the relay answers from
 * its sink: CLIENTVERSION, GETDEVICES / GETPORTS and HOSTCONFIG. Kept apart
 * from AgentConnection, which dispatches packets; this builds the answers.
 */
import {
  encodePacket,
  ErrorCode,
  OwlError,
  PacketType,
  type HostConfigRequest,
  type NetDevice,
  type Port,
} from '../protocol/index.js';
import type { AgentSink } from './agent-sink.js';

/**
 * The CLIENTVERSIONRESP to send, only when a latest agent version is set (protocol.md 5.3): a v3
 * agent told "" would fetch `td-client-.tar.gz`, so no version (null, empty or blank) is no answer.
 */
export function clientVersionReply(sink: AgentSink): Buffer | undefined {
  const version = sink.clientVersion();
  if (version === null || version.trim() === '') return undefined;
  return encodePacket(PacketType.CLIENTVERSIONRESP, { version });
}

/** The zone's devices or ports for a v3 proxy; throws when `source` is not a proxy served here. */
export function zoneReply(
  sink: AgentSink,
  type: typeof PacketType.GETDEVICES | typeof PacketType.GETPORTS,
  source: string,
): Buffer {
  const items = sink.zoneItems?.(type === PacketType.GETDEVICES ? 'devices' : 'ports', source);
  if (items === undefined || items === null) {
    throw new OwlError(ErrorCode.UNEXPECTED_PACKET, `${source} is not a v3 proxy served here`);
  }
  if (type === PacketType.GETDEVICES) return encodePacket(PacketType.GETDEVICESRESP, items as NetDevice[]);
  return encodePacket(PacketType.GETPORTSRESP, items as Port[]);
}

/** Ask the sink for a host's config; `send` gets the HOSTCONFIGRESP once (and if) one is known. */
export function replyHostConfig(
  sink: AgentSink,
  request: HostConfigRequest,
  source: string,
  send: (frame: Buffer) => void,
): void {
  sink.hostConfig(request, source).then(
    (host) => {
      if (host !== null) send(encodePacket(PacketType.HOSTCONFIGRESP, host));
    },
    () => {
      /* no config known and upstream unreachable: the agent asks again on its next cycle */
    },
  );
}
