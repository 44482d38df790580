/**
 * Channels and kinds: bytes 0 and 1 of every uplink message.
 *
 * A channel per concern, so that a big data batch never holds up control or
 * configuration traffic: the sender keeps one queue per channel and always
 * sends from the first non-empty queue, in the order CONTROL, CONFIG, STATUS,
 * DATA, FIRMWARE (docs/uplink.md section 3). FIRMWARE carries signed update
 * bundles in chunks the relay asks for one at a time and paces, so a bundle
 * never holds up samples (docs/firmware-delivery.md). Kinds are numbered per channel from 1; 0 is
 * reserved so an all-zero message is never valid.
 */

/** Byte 0 of a message. */
export const UplinkChannel = {
  CONTROL: 0,
  DATA: 1,
  CONFIG: 2,
  STATUS: 3,
  FIRMWARE: 4,
} as const;
export type UplinkChannel = (typeof UplinkChannel)[keyof typeof UplinkChannel];

/** The two ends of an uplink. */
export type UplinkPeer = 'relay' | 'upstream';

/** Where a message type lives on the wire and who may send it. */
export interface UplinkKindInfo {
  channel: UplinkChannel;
  kind: number;
  from: UplinkPeer | 'both';
}

/** Every message type: its channel, its kind byte and its sender. */
export const UPLINK_KINDS = {
  HELLO: { channel: UplinkChannel.CONTROL, kind: 1, from: 'relay' },
  WELCOME: { channel: UplinkChannel.CONTROL, kind: 2, from: 'upstream' },
  CREDIT: { channel: UplinkChannel.CONTROL, kind: 3, from: 'upstream' },
  PING: { channel: UplinkChannel.CONTROL, kind: 4, from: 'both' },
  PONG: { channel: UplinkChannel.CONTROL, kind: 5, from: 'both' },
  ERROR: { channel: UplinkChannel.CONTROL, kind: 6, from: 'both' },
  BATCH: { channel: UplinkChannel.DATA, kind: 1, from: 'relay' },
  BATCH_ACK: { channel: UplinkChannel.DATA, kind: 2, from: 'upstream' },
  HOSTCONFIG_REQ: { channel: UplinkChannel.CONFIG, kind: 1, from: 'relay' },
  HOSTCONFIG_RESP: { channel: UplinkChannel.CONFIG, kind: 2, from: 'upstream' },
  CONFIG_PUSH: { channel: UplinkChannel.CONFIG, kind: 3, from: 'upstream' },
  VERSION_REQ: { channel: UplinkChannel.CONFIG, kind: 4, from: 'relay' },
  VERSION_RESP: { channel: UplinkChannel.CONFIG, kind: 5, from: 'upstream' },
  INVENTORY_REQ: { channel: UplinkChannel.CONFIG, kind: 6, from: 'relay' },
  INVENTORY_RESP: { channel: UplinkChannel.CONFIG, kind: 7, from: 'upstream' },
  CONFIG_ERROR: { channel: UplinkChannel.CONFIG, kind: 8, from: 'upstream' },
  INVENTORY_PUSH: { channel: UplinkChannel.CONFIG, kind: 9, from: 'upstream' },
  RELAY_STATUS: { channel: UplinkChannel.STATUS, kind: 1, from: 'relay' },
  FIRMWARE_OFFER: { channel: UplinkChannel.FIRMWARE, kind: 1, from: 'upstream' },
  FIRMWARE_CHUNK_REQ: { channel: UplinkChannel.FIRMWARE, kind: 2, from: 'relay' },
  FIRMWARE_CHUNK: { channel: UplinkChannel.FIRMWARE, kind: 3, from: 'upstream' },
  FIRMWARE_ERROR: { channel: UplinkChannel.FIRMWARE, kind: 4, from: 'upstream' },
  FIRMWARE_REPORT: { channel: UplinkChannel.FIRMWARE, kind: 5, from: 'relay' },
} as const satisfies Record<string, UplinkKindInfo>;

/** Name of a message type, e.g. `'BATCH'`: the discriminant of UplinkMessage. */
export type UplinkMessageType = keyof typeof UPLINK_KINDS;

const BY_WIRE: ReadonlyMap<number, UplinkMessageType> = new Map(
  (Object.keys(UPLINK_KINDS) as UplinkMessageType[]).map((type) => {
    const info: UplinkKindInfo = UPLINK_KINDS[type];
    return [info.channel * 256 + info.kind, type];
  }),
);

/** The message type at (channel, kind), or undefined. */
export function uplinkTypeAt(channel: number, kind: number): UplinkMessageType | undefined {
  return BY_WIRE.get(channel * 256 + kind);
}

/** Number of channels; byte 0 must be below it. */
export const UPLINK_CHANNELS = 5;
