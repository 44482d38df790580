/**
 * A real Debian `snmpd` for tests, on 127.0.0.1 at a free UDP port with a
 * generated config: a v2c community, an SNMPv3 authPriv user (SHA/AES), and
 * one scalar counter under a private enterprise OID that the test sets by
 * writing a file (snmpd's `pass_persist` hook asks a tiny script), so a
 * Counter32 wrap happens on demand. `stop()` and `start()` again restart the
 * agent: its sysUpTime starts over, as a rebooted device's does.
 * `.ci/run` installs snmpd and snmp (snmpget) from Debian.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './agent-client.js';

const run = promisify(execFile);

export const SNMP_COMMUNITY = 'owl-test-community';
export const SNMP_USER = { name: 'owlv3', authKey: 'owl-auth-pass', privKey: 'owl-priv-pass' };
/** The settable Counter32 (`counter.value` in the state dir). */
export const TEST_COUNTER_OID = '1.3.6.1.4.1.99999.1.0';

/** A free UDP port on 127.0.0.1 (bound, then let go: snmpd takes it a moment later; nothing answers there). */
export async function closedUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

export class Snmpd {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Write the config into `dir` and start snmpd; resolves once it answers. */
  static async start(dir: string): Promise<Snmpd> {
    const d = new Snmpd(dir, await closedUdpPort());
    d.writeConfig();
    d.setCounter(0n);
    await d.start();
    return d;
  }

  private writeConfig(): void {
    mkdirSync(join(this.dir, 'persist'), { recursive: true });
    const script = join(this.dir, 'counter.sh');
    const file = join(this.dir, 'counter.value');
    // snmpd's pass_persist protocol (plain `pass` answers are cached by snmpd for a while):
    // PING → PONG; `get`/`getnext` and an OID → OID, type, value, or NONE.
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `oid=.${TEST_COUNTER_OID}`,
        'while read cmd; do',
        '  case "$cmd" in',
        '    PING) echo PONG ;;',
        `    get) read req; if [ "$req" = "$oid" ]; then printf "%s\\ncounter\\n" "$oid"; cat '${file}'; else echo NONE; fi ;;`,
        `    getnext) read req; case "$req" in .1.3.6.1.4.1.99999|.1.3.6.1.4.1.99999.1) printf "%s\\ncounter\\n" "$oid"; cat '${file}' ;; *) echo NONE ;; esac ;;`,
        '    set) read req; read val; echo not-writable ;;',
        '    *) echo NONE ;;',
        '  esac',
        'done',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    writeFileSync(
      join(this.dir, 'snmpd.conf'),
      [
        `agentAddress udp:127.0.0.1:${this.port}`,
        `rocommunity ${SNMP_COMMUNITY} 127.0.0.1`,
        `createUser ${SNMP_USER.name} SHA ${SNMP_USER.authKey} AES ${SNMP_USER.privKey}`,
        `rouser ${SNMP_USER.name} priv`,
        `pass_persist .1.3.6.1.4.1.99999.1 /bin/sh ${script}`,
        '',
      ].join('\n'),
    );
  }

  /** The value the test counter reports from now on. */
  setCounter(value: bigint): void {
    writeFileSync(join(this.dir, 'counter.value'), `${value}\n`);
  }

  async start(): Promise<void> {
    this.proc = spawn(
      '/usr/sbin/snmpd',
      [
        '-f',
        '-Lf',
        join(this.dir, 'snmpd.log'),
        '-C',
        '-c',
        join(this.dir, 'snmpd.conf'),
        '--persistentDir=' + join(this.dir, 'persist'),
      ],
      { stdio: 'ignore' },
    );
    await eventually(
      async () => (await this.snmpget(['1.3.6.1.2.1.1.3.0']).catch(() => '')) !== '',
      10_000,
      'snmpd answering',
      50,
    );
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGKILL');
    await exited;
  }

  /** The agent's sysUpTime, hundredths of a second. */
  async uptime(): Promise<number> {
    const { stdout } = await run('snmpget', [
      '-v2c',
      '-c',
      SNMP_COMMUNITY,
      '-Oqvt',
      '-t',
      '1',
      '-r',
      '0',
      `127.0.0.1:${this.port}`,
      '1.3.6.1.2.1.1.3.0',
    ]);
    return Number(stdout.trim());
  }

  /** Debian's snmpget, v2c, numeric OIDs; the value part of each line (`Counter64: 123` → `123`). */
  async snmpget(oids: string[]): Promise<string> {
    const { stdout } = await run('snmpget', [
      '-v2c',
      '-c',
      SNMP_COMMUNITY,
      '-On',
      '-Oqv',
      '-t',
      '1',
      '-r',
      '0',
      `127.0.0.1:${this.port}`,
      ...oids,
    ]);
    return stdout.trim();
  }
}
