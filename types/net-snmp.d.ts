/**
 * Types for `net-snmp` (it ships none): the client subset the relay's zone
 * poller uses (relay/zone/snmp-session.ts is its one user).
 */
declare module 'net-snmp' {
  export interface Varbind {
    oid: string;
    type: number;
    /** number for integers, gauges, Counter32 and TimeTicks; Buffer for strings and Counter64. */
    value: number | Buffer | string | null;
  }
  export type Callback<T> = (error: Error | null, result: T) => void;
  export interface Session {
    get(oids: string[], cb: Callback<Varbind[]>): void;
    getBulk(
      oids: string[],
      nonRepeaters: number,
      maxRepetitions: number,
      cb: Callback<Array<Varbind | Varbind[]>>,
    ): void;
    close(): void;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  export interface SessionOptions {
    port?: number;
    retries?: number;
    timeout?: number;
    backoff?: number;
    transport?: 'udp4' | 'udp6';
    version?: number;
    idBitsSize?: 16 | 32;
  }
  export interface User {
    name: string;
    level: number;
    authProtocol?: number;
    authKey?: string;
    privProtocol?: number;
    privKey?: string;
  }
  export const Version1: number;
  export const Version2c: number;
  export const Version3: number;
  export const ObjectType: Record<string, number>;
  export const SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number };
  export const AuthProtocols: Record<
    'none' | 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512',
    number
  >;
  export const PrivProtocols: Record<'none' | 'des' | 'aes' | 'aes256b' | 'aes256r', number>;
  export function createSession(target: string, community: string, options?: SessionOptions): Session;
  export function createV3Session(target: string, user: User, options?: SessionOptions): Session;
  export function isVarbindError(varbind: Varbind): boolean;
  export function varbindError(varbind: Varbind): string;
  export class RequestTimedOutError extends Error {}
}
