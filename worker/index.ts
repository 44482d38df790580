/**
 * Running a service in a worker thread: the main side (WorkerHost), the
 * worker's side (HostPort), and what both share. Not tied to RocksDB: the
 * spool and the sample store use it to keep RocksDB's synced writes off the
 * main event loop.
 */
export { WorkerHost, type WorkerHostOptions } from './host.js';
export { HostPort, type PortService, type Settled } from './port.js';
export { PendingCalls, type PendingCall } from './pending-calls.js';
export { startModuleWorker } from './start.js';
export { errorRebuilder, fromWireLog, toWireLog, type Handshake, type Outgoing } from './wire.js';
