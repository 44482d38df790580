/**
 * Packet type numbers. 0–14 are OWL v3's and never change; 15 and up are
 * OWL extensions that a v3 peer never has to send or understand.
 */
export const PacketType = {
  HOSTCONFIG: 0,
  HOSTCONFIGRESP: 1,
  CLIENTVERSION: 2,
  CLIENTVERSIONRESP: 3,
  SERIESDATA: 4,
  GETDEVICES: 5,
  GETDEVICESRESP: 6,
  GETPORTS: 7,
  GETPORTSRESP: 8,
  UPDATEDEVICES: 9,
  UPDATEPORTS: 10,
  PORTDISCOVERYR: 11,
  ASSESTDISCOVERY: 12,
  HOSTHB: 13,
  GUARDHB: 14,
  // Extensions (v4).
  SERIESBATCH: 15,
  ACK: 16,
  ERROR: 17,
  HELLO: 18,
  // Firmware for v4 agents, from their relay (docs/firmware-delivery.md), only when the relay's HELLO lists 'firmware'.
  FWCHECK: 19,
  FWOFFER: 20,
  FWCHUNKREQ: 21,
  FWCHUNK: 22,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];
export type PacketName = keyof typeof PacketType;

/** Highest type number a v3 peer understands. */
const LAST_V3_TYPE = PacketType.GUARDHB;

const NAMES: readonly PacketName[] = (Object.keys(PacketType) as PacketName[]).sort(
  (a, b) => PacketType[a] - PacketType[b],
);

/** True for a type number this protocol defines. */
export function isPacketType(type: number): type is PacketType {
  return Number.isInteger(type) && type >= 0 && type < NAMES.length;
}

/** True for the 15 packet types of OWL v3. */
export function isV3Type(type: number): boolean {
  return Number.isInteger(type) && type >= 0 && type <= LAST_V3_TYPE;
}

/** Name of a type number, e.g. `SERIESDATA`, or `TYPE_<n>` for an unknown one. */
export function packetName(type: number): string {
  return isPacketType(type) ? (NAMES[type] as PacketName) : `TYPE_${type}`;
}

/** Types whose body may be empty (N = 1). HOSTHB is empty when an agent sends it to its watchdog. */
export const EMPTY_BODY_TYPES: ReadonlySet<number> = new Set([
  PacketType.CLIENTVERSION,
  PacketType.GUARDHB,
  PacketType.HOSTHB,
]);
