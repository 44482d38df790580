/* eslint-disable no-restricted-imports -- unit tests of the CLI's pure parts, which upstream/index.ts does not export */
/**
 * The v3 export reader (upstream/import-v3.ts, upstream/csv.ts): the same v3
 * tables exported as JSON and as CSV (test/fixtures/v3-export/) give the same
 * hosts and services, each one valid as the wire's HOSTCONFIGRESP, and every
 * row left out is named with its reason.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultParser, PacketType } from '../../protocol/index.js';
import { readV3Export } from '../../upstream/cli-import.js';
import { parseTimeFlag, tagParams } from '../../upstream/cli-time.js';
import { parseCsv, parseCsvRows } from '../../upstream/csv.js';
import { importV3, parseV3Csv, parseV3Json, sameServices } from '../../upstream/import-v3.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/v3-export/', import.meta.url));

const WEB = '5d41402abc4b2a76b9719d911017c592';
const DB = '7d793037a0760186574b0282f2f435e7';
const EDGE = '9e107d9d372bb6826bd81d3542a419d6';

test('JSON and CSV exports of the same tables give the same hosts and services', (t) => {
  const fromJson = importV3(readV3Export(`${FIXTURES}tables.json`));
  const fromCsv = importV3(readV3Export(`${FIXTURES}csv`));
  t.deepEqual(fromCsv, fromJson);
  t.deepEqual(
    fromJson.hosts.map((h) => [h.uuid, h.hostname, h.ip, h.proxy, h.services.map((s) => s.name)]),
    [
      [WEB, 'web-01', '10.0.0.11', '10.0.0.1', ['tcp', 'disk']],
      [DB, 'db-01', '10.0.0.12', '10.0.0.1', ['mysql', 'tcp']],
      [EDGE, 'edge-01', '10.2.0.5', '10.2.0.1', ['edge-tcp']],
    ],
  );
  const web = fromJson.hosts[0];
  t.deepEqual(web?.services, [
    {
      id: 1,
      name: 'tcp',
      plugin: 'tcp_state.py',
      exec_interval: 60,
      items: {
        TCP_LISTEN: { key: 'TCP_LISTEN', data_type: 'GAUGE' },
        TCP_ESTABLISHED: { key: 'TCP_ESTABLISHED', data_type: 'GAUGE' },
      },
    },
    {
      id: 2,
      name: 'disk',
      plugin: 'disk_usage.sh',
      args: '-x tmpfs',
      exec_interval: 600,
      items: { sda1_used: { key: 'sda1_used', data_type: 'GAUGE' } },
    },
  ]);
  t.like(fromJson.hosts[1]?.services[0], {
    args: '--user "monitor", --socket /run/mysqld.sock',
    exec_interval: 30,
    items: {
      Questions: { key: 'Questions', data_type: 'COUNTER' },
      Bytes_received: { key: 'Bytes_received', data_type: 'DERIVE' },
    },
  });
  // What an agent will get must pass the wire schema.
  for (const h of fromJson.hosts)
    t.notThrows(() =>
      defaultParser.validateBody(PacketType.HOSTCONFIGRESP, { uuid: h.uuid, services: h.services }),
    );
});

test('rows left out are named with their reasons', (t) => {
  const { skipped } = importV3(readV3Export(`${FIXTURES}csv`));
  t.deepEqual(skipped, [
    { table: 'metrics', row: '7', reason: 'data_type HISTOGRAM: not GAUGE, COUNTER or DERIVE' },
    { table: 'hosts', row: '3', reason: 'no uuid' },
    { table: 'services', row: '5', reason: 'plugin_id 99: no such plugin' },
  ]);
});

test('a host_services table links services to hosts; a service may name its plugin; duplicates are refused', (t) => {
  const r = importV3(
    parseV3Json(
      JSON.stringify({
        HOSTS: [
          { ID: 1, UUID: 'a' },
          { id: 2, uuid: 'b' },
          { id: 3, uuid: 'a' },
          { id: 4, uuid: 'with space' },
        ],
        services: [
          { id: 10, plugin: 'cpu.sh', exec_interval: 15 },
          { id: 11, plugin: 'mem.sh' },
        ],
        host_services: [
          { host_id: 1, service_id: 10 },
          { host_id: 2, service_id: 10 },
          { host_id: 2, service_id: 12 },
        ],
      }),
    ),
  );
  t.deepEqual(
    r.hosts.map((h) => [h.uuid, h.services]),
    [
      ['a', [{ id: 10, name: 'cpu.sh', plugin: 'cpu.sh', exec_interval: 15, items: {} }]],
      ['b', [{ id: 10, name: 'cpu.sh', plugin: 'cpu.sh', exec_interval: 15, items: {} }]],
    ],
  );
  t.deepEqual(
    r.skipped.map((s) => `${s.table} ${s.row}: ${s.reason}`),
    [
      'hosts 3: uuid a: listed twice (the first row is kept)',
      'hosts 4: uuid "with space": contains white space',
      'services 11: no exec_interval (on the service or its plugin)',
      'host_services #3: service_id 12: no such service',
    ],
  );
});

test('malformed exports are refused with what is wrong', (t) => {
  t.throws(() => parseV3Json('{"hosts": ['), { message: /^not JSON/ });
  t.throws(() => parseV3Json('[]'), { message: /expected an object of tables/ });
  t.throws(() => parseV3Json('{"hosts": [1]}'), { message: /hosts: expected an array of row objects/ });
  t.throws(() => importV3({}), { message: /no hosts table/ });
  t.throws(() => parseV3Csv({ hosts: 'id,uuid\n1,"a\n' }), {
    message: /hosts\.csv: line 3: a quoted field is not closed/,
  });
  t.throws(() => parseV3Csv({ hosts: 'id,uuid\n1,a,extra\n' }), {
    message: /hosts\.csv: record 2: 3 fields, the header has 2/,
  });
  t.throws(() => readV3Export(`${FIXTURES}nowhere`), { message: /no such file or directory/ });
});

test('CSV: quotes, doubled quotes, line breaks in quotes, CRLF, a BOM, blank lines', (t) => {
  t.deepEqual(parseCsvRows('\ufeffa,b\r\n"x, y","say ""hi"""\n\n"two\nlines",\n'), [
    ['a', 'b'],
    ['x, y', 'say "hi"'],
    ['two\nlines', ''],
  ]);
  t.deepEqual(parseCsv(' Id ,UUID\n1,u\n'), [{ id: '1', uuid: 'u' }]);
  t.throws(() => parseCsvRows('a"b\n'), { message: /a quote inside an unquoted field/ });
  t.throws(() => parseCsvRows('"a"b\n'), { message: /text after a closing quote/ });
});

test('services compare as the wire sends them', (t) => {
  const s = JSON.parse(readFileSync(`${FIXTURES}services-web.json`, 'utf8')) as never[];
  t.true(sameServices(s, JSON.parse(JSON.stringify(s)) as never[]));
  t.false(sameServices(s, s.slice(1)));
  t.true(sameServices(null, []));
});

test('query times: ISO, epoch ms, now, relative; tags', (t) => {
  const now = Date.UTC(2026, 0, 5, 12);
  t.is(parseTimeFlag('--from', '2026-01-05T10:00:00Z', now), Date.UTC(2026, 0, 5, 10));
  t.is(parseTimeFlag('--from', '1767607200000', now), 1_767_607_200_000);
  t.is(parseTimeFlag('--to', 'now', now), now);
  t.is(parseTimeFlag('--from', '-1h', now), now - 3_600_000);
  t.is(parseTimeFlag('--from', '-2d', now), now - 2 * 86_400_000);
  t.throws(() => parseTimeFlag('--from', 'yesterday', now), {
    message: /^--from yesterday: expected an ISO time/,
  });
  t.throws(() => parseTimeFlag('--from', '1h', now), { message: /^--from 1h/ });
  t.deepEqual(tagParams(['uuid=abc', 'ip=10.0.0.1=x']), [
    ['tag.uuid', 'abc'],
    ['tag.ip', '10.0.0.1=x'],
  ]);
  t.throws(() => tagParams(['nokey']), { message: /--tag nokey: expected key=value/ });
});
