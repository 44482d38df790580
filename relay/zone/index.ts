/** The relay's zone duties: polling the zone's network devices (SNMP) and checking its hosts' ports. */
export { counterRate, type CounterReading, type RateResult } from './counter-rate.js';
export { deviceLabel, type SnmpDevice, type SnmpUser } from './device.js';
export { DevicePoller, type InterfaceRow, type PollResult } from './device-poller.js';
export { SnmpSession } from './snmp-session.js';
export { Limiter } from './limiter.js';
export { checkPort, PortWatch, type PortCheckResult, type PortWatchOptions } from './port-check.js';
export {
  DEVICE_DEFAULTS,
  deviceId,
  fromNetDevice,
  interfacesUpdate,
  type DeviceDefaults,
  type NetDeviceV4,
} from './net-device.js';
export { ZonePoller, type ZoneLog, type ZonePollerOptions, type ZoneSink } from './zone-poller.js';
export { after as oidAfter } from './column-walk.js';
