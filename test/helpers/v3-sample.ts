/**
 * Test data as a v3 agent sends it: a SERIESDATA body with every field, from
 * the few a test cares about, and a packet's JSON body bytes.
 */
import { encodePacket, type PacketBodies, type PacketType, type SeriesData } from '../../protocol/index.js';

/** A v3 SERIESDATA body; fields not given get plain defaults. */
export function v3Sample(fields: Partial<SeriesData> & { uuid: string; value: number }): SeriesData {
  return {
    ip: '127.0.0.1',
    group: '',
    timestamp: 1_700_000_000,
    service_name: 'cpu',
    metric: 'idle',
    flag: 0,
    ...fields,
  };
}

/** The JSON body bytes of a packet exactly as encodePacket writes them (no frame header). */
export function packetBody<T extends PacketType>(type: T, body: PacketBodies[T]): Buffer {
  return encodePacket(type, body).subarray(5);
}
