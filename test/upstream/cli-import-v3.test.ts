/**
 * `owl-upstream import-v3`, `service set` and `host add --services` end to
 * end: a real upstream (`owl-upstream run`), the real CLI as an operator runs
 * it, and a real v3 agent (no HELLO) on the upstream's direct agent listener
 * whose HOSTCONFIG answers carry the imported services, so a td-client keeps
 * its plugins. Re-running the import changes nothing; after a change through
 * the CLI, it puts the export's services back.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PacketType, type Host, type Service } from '../../protocol/index.js';
// eslint-disable-next-line no-restricted-imports -- the expected services: the export read as the CLI reads it
import { importV3 } from '../../upstream/import-v3.js';
// eslint-disable-next-line no-restricted-imports -- (upstream/index.ts does not export the CLI's parts)
import { readV3Export } from '../../upstream/cli-import.js';
import { TestAgent } from '../helpers/agent-client.js';
import { startUpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/v3-export/', import.meta.url));
const WEB = '5d41402abc4b2a76b9719d911017c592';
const DB = '7d793037a0760186574b0282f2f435e7';
const EDGE = '9e107d9d372bb6826bd81d3542a419d6';

/** `owl-upstream <args>` against the API at `port`: exit code, stdout (JSON when it parses), stderr. */
function owl(args: string[]): Promise<{ code: number; out: unknown; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `${REPO}upstream/cli.ts`, ...args],
      { cwd: REPO, timeout: 60_000 },
      (error, stdout, stderr) => {
        let out: unknown = stdout;
        try {
          out = JSON.parse(stdout) as unknown;
        } catch {
          // not JSON: kept as text
        }
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          out,
          err: stderr,
        });
      },
    );
  });
}

/** HOSTCONFIG as a td-client sends it; the HOSTCONFIGRESP it gets. */
async function askConfig(agent: TestAgent, uuid: string): Promise<Host> {
  agent.send(PacketType.HOSTCONFIG, { uuid, ip: '10.0.0.11', hostname: 'h', kernel: '5.10', os: 'linux' });
  for (;;) {
    const resp = await agent.next(PacketType.HOSTCONFIGRESP);
    if (resp.body.uuid === uuid) return resp.body;
  }
}

test('import-v3 from CSV: a v3 agent gets its services; re-runs are idempotent; service set and host add --services', async (t) => {
  const dir = tempDir('owl-import-');
  const up = await startUpstreamCli(dir.path);
  t.teardown(async () => {
    await up.proc.stop();
    dir.remove();
  });
  const started = up.proc.log.find((l) => l.msg === 'upstream started');
  const agentsPort = (started?.['agents'] as { port: number }[] | undefined)?.[0]?.port ?? 0;
  const api = ['--state-dir', dir.path, '--api', `127.0.0.1:${up.api.port}`];
  const expected = importV3(readV3Export(`${FIXTURES}csv`)).hosts;
  const servicesOf = (uuid: string): Service[] => expected.find((h) => h.uuid === uuid)?.services ?? [];

  const first = await owl(['import-v3', `${FIXTURES}csv`, '--proxy-zone', '10.2.0.1=zone-edge', ...api]);
  t.is(first.code, 0, first.err);
  t.like(first.out, { added: 3, updated: 0, unchanged: 0, skipped: 0, hosts: { added: [WEB, DB, EDGE] } });
  t.is((first.out as { rowsSkipped: unknown[] }).rowsSkipped.length, 3, 'the three bad rows of the fixture');

  // A td-client of an imported host, straight to the upstream: its services, not an empty list.
  const agent = await TestAgent.connect(agentsPort);
  t.teardown(() => agent.destroy());
  t.deepEqual((await askConfig(agent, WEB)).services, servicesOf(WEB));
  t.deepEqual((await askConfig(agent, DB)).services, servicesOf(DB));
  const list = (await owl(['host', 'list', ...api])).out as { host: { uuid: string }; zone: string }[];
  t.deepEqual(
    list.map((r) => [r.host.uuid, r.zone]),
    [
      [WEB, 'direct'],
      [DB, 'direct'],
      [EDGE, 'zone-edge'],
    ],
    'hosts of a mapped v3 proxy go to its relay',
  );

  // The same tables as JSON: nothing to do.
  const again = await owl(['import-v3', `${FIXTURES}tables.json`, ...api]);
  t.is(again.code, 0, again.err);
  t.like(again.out, { added: 0, updated: 0, unchanged: 3, skipped: 0 });

  // service set: the connected agent is pushed the new services at once.
  const web = `${FIXTURES}services-web.json`;
  const set = await owl(['service', 'set', WEB, web, ...api]);
  t.is(set.code, 0, set.err);
  const pushed = await agent.next(PacketType.HOSTCONFIGRESP);
  t.deepEqual(
    pushed.body.services?.map((s) => s.name),
    ['tcp', 'nginx'],
  );
  t.deepEqual(
    ((await owl(['service', 'list', WEB, ...api])).out as Service[]).map((s) => s.name),
    ['tcp', 'nginx'],
  );

  // Re-import: the export's services come back, for that host only.
  const restore = await owl(['import-v3', `${FIXTURES}csv`, '--dry-run', ...api]);
  t.like(restore.out, { dryRun: true, added: 0, updated: 1, unchanged: 2, hosts: { updated: [WEB] } });
  t.deepEqual(
    (await askConfig(agent, WEB)).services?.map((s) => s.name),
    ['tcp', 'nginx'],
    'a dry run changes nothing',
  );
  const restored = await owl(['import-v3', `${FIXTURES}csv`, ...api]);
  t.like(restored.out, { added: 0, updated: 1, unchanged: 2, hosts: { updated: [WEB] } });
  t.deepEqual((await askConfig(agent, WEB)).services, servicesOf(WEB));

  // host add --services: a host registered with its plugins before its agent ever reports.
  const added = await owl(['host', 'add', 'c4ca4238a0b923820dcc509a6f75849b', '--services', web, ...api]);
  t.is(added.code, 0, added.err);
  t.deepEqual(
    (await askConfig(agent, 'c4ca4238a0b923820dcc509a6f75849b')).services?.map((s) => s.name),
    ['tcp', 'nginx'],
  );

  // Operator mistakes: one line, exit code 1.
  const badFile = await owl(['service', 'set', WEB, `${FIXTURES}csv/hosts.csv`, ...api]);
  t.is(badFile.code, 1);
  t.regex(badFile.err, /^owl-upstream: .*hosts\.csv: .*JSON/);
  // v3 service rows are not wire services: the API checks them against the HOSTCONFIGRESP schema.
  const badService = await owl(['host', 'add', 'x1', '--services', `${FIXTURES}tables.json`, ...api]);
  t.is(badService.code, 1);
  t.regex(badService.err, /^owl-upstream: 400: .*services\/0\/plugin/);
  const noHost = await owl(['service', 'set', 'no-such-host', web, ...api]);
  t.is(noHost.code, 1);
  t.regex(noHost.err, /^owl-upstream: 404: /);
});
