/** One realistic body per packet type, as the peers put it on the wire. */
import { PacketType, type PacketBodies } from '../../protocol/index.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';

export const fixtures: { [T in PacketType]: PacketBodies[T] } = {
  [PacketType.HOSTCONFIG]: {
    uuid: UUID,
    proxy: '10.1.0.1',
    ip: '10.1.0.23',
    hostname: 'web-23',
    kernel: '5.10.0-28-amd64',
    os: 'Debian GNU/Linux 11',
    idrac_addr: '',
  },
  [PacketType.HOSTCONFIGRESP]: {
    id: 17,
    uuid: UUID,
    assest_id: 4,
    ip: '10.1.0.23',
    group: 'web',
    proxy: '10.1.0.1',
    services: [
      {
        id: 3,
        name: 'tcp',
        plugin: 'tcp_state.py',
        args: '-v 4',
        exec_interval: 60,
        items: { TCP_LISTEN: { key: 'TCP_LISTEN', data_type: 'GAUGE' } },
      },
    ],
  },
  [PacketType.CLIENTVERSION]: null,
  [PacketType.CLIENTVERSIONRESP]: { version: '2.0' },
  [PacketType.SERIESDATA]: {
    uuid: UUID,
    ip: '10.1.0.23',
    group: 'web',
    timestamp: 1700000000,
    service_name: 'tcp',
    metric: 'TCP_ESTABLISHED',
    value: 97.5,
    flag: 1,
  },
  [PacketType.GETDEVICES]: { proxy: '10.1.0.1' },
  [PacketType.GETDEVICESRESP]: [
    {
      id: 1,
      uuid: 'sw-core-1',
      ip: '10.1.0.2',
      proxy: '10.1.0.1',
      snmp_version: '2c',
      snmp_community: 'public',
      snmp_port: 161,
      update_interval: 300,
      check_interval: 60,
      interfaces: {},
      custom_oids: { cpu: { id: 1, name: 'cpu', oid: '1.3.6.1.4.1.9.2.1.57.0' } },
    },
  ],
  [PacketType.GETPORTS]: { proxy: '10.1.0.1' },
  [PacketType.GETPORTSRESP]: [{ id: 9, ip: '10.1.0.23', port: 443, proc_name: 'nginx', status: 0 }],
  [PacketType.UPDATEDEVICES]: [
    {
      id: 1,
      uuid: 'sw-core-1',
      ip: '10.1.0.2',
      interfaces: {
        '1': { id: 1, index: 1, name: 'Gi0/1', status: 1, mac: '00:11:22:33:44:55', speed: 1000000000 },
      },
    },
  ],
  [PacketType.UPDATEPORTS]: [{ id: 9, ip: '10.1.0.23', port: 443, proc_name: 'nginx', status: 1 }],
  [PacketType.PORTDISCOVERYR]: {
    uuid: UUID,
    ports: [{ ip: '0.0.0.0', port: 22, proc_name: 'sshd', status: 0 }],
  },
  [PacketType.ASSESTDISCOVERY]: {
    uuid: UUID,
    sn: 'CN7475162',
    unit: '1U',
    vender: 'Dell',
    model: 'R630',
    cpus: [{ name: 'Xeon E5-2630', model: 'E5-2630 v4', vender: 'Intel' }],
    memorys: [{ sn: 'M1', size: '16 GB', speed: '2400 MHz', locator: 'A1', vender: 'Samsung' }],
    disks: [
      { sn: 'D1', vender: 'Seagate', product_id: 'ST600', slot: '0', capacity: '600 GB', media: 'HDD' },
    ],
    nics: [{ name: 'eth0', mac: '00:11:22:33:44:66', vender: 'Intel', description: 'I350' }],
  },
  [PacketType.HOSTHB]: { uuid: UUID },
  [PacketType.GUARDHB]: null,
  [PacketType.SERIESBATCH]: {
    session: 'a1b2c3d4',
    seq: 42,
    uuid: UUID,
    ip: '10.1.0.23',
    samples: [
      { service_name: 'cpu', metric: 'user', value: 12.5, timestamp_ms: 1700000000123, data_type: 'GAUGE' },
      {
        service_name: 'net',
        metric: 'rx_bytes',
        value: 1024,
        timestamp: 1700000000,
        data_type: 'COUNTER',
        tags: { iface: 'eth0' },
      },
    ],
  },
  [PacketType.ACK]: { session: 'a1b2c3d4', seq: 42 },
  [PacketType.ERROR]: {
    code: 'OWL_ERR_BAD_FIELD',
    message: 'SERIESDATA /value: must be number',
    field: '/value',
  },
  [PacketType.HELLO]: {
    version: 1,
    features: ['batch', 'ack'],
    uuid: UUID,
    token: 'zone-secret',
    agent: 'owl-agent/0.1',
  },
  [PacketType.FWCHECK]: {
    program: 'owl-agent',
    arch: 'amd64',
    version: '0.1.0',
    state: 'trial',
    pendingVersion: '0.2.0',
    lastFailure: {
      code: 'OWL_ERR_FIRMWARE_HEALTH_TIMEOUT',
      reason: 'not healthy in 180 s',
      version: '0.2.0',
      at: 1,
    },
  },
  [PacketType.FWOFFER]: { bundle: { id: 'c'.repeat(64), version: '0.2.0', size: 9_000_000 } },
  [PacketType.FWCHUNKREQ]: { id: 3, bundle: 'c'.repeat(64), offset: 196_608, length: 196_608 },
  [PacketType.FWCHUNK]: { id: 3, bundle: 'c'.repeat(64), offset: 196_608, data: 'b3ds' },
};

/** A v3 SERIESDATA exactly as a v3 agent (Go encoding/json of its struct) sends it. */
export const V3_SERIESDATA_BYTES = Buffer.from(
  '{"uuid":"5d41402abc4b2a76b9719d911017c592","ip":"10.1.0.23","group":"","timestamp":1700000000,' +
    '"service_name":"tcp","metric":"TCP_LISTEN","value":46.5,"flag":0}',
);
