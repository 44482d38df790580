import { encodeJsonFrame } from './encoder.js';
import type { PacketType } from './packet-types.js';
import type { PacketBodies } from './packets.js';

/** Encode a typed packet as one frame. A `null` body gives an empty body (N = 1). */
export function encodePacket<T extends PacketType>(type: T, body: PacketBodies[T]): Buffer {
  return encodeJsonFrame(type, body === null ? undefined : body);
}
