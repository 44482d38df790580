/**
 * How far a relay is: the time to open a TCP (or TLS) connection to it,
 * closed at once. Used to move back to the nearest relay once it answers.
 */
import { connect } from 'node:net';
import type { RelayAddress } from './address.js';

/** Milliseconds to connect, or undefined when it did not within `timeoutMs`. */
export function probeConnect(address: RelayAddress, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = address.tls ? address.tls.connect() : connect({ host: address.host, port: address.port });
    const finish = (ms: number | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ms);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.once(address.tls ? 'secureConnect' : 'connect', () => finish(performance.now() - started));
    socket.once('error', () => finish(undefined));
  });
}
