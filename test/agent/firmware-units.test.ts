/**
 * The agent's firmware pieces on their own: the constants it repeats (so it need not load
 * firmware/ or protocol/index.ts) equal the originals, the `firmware` config section, the
 * hand-checked FWOFFER/FWCHUNK parser against the relay's Ajv schemas, and the FWCHECK body.
 */
import test from 'ava';
import { defaultAgentConfig, resolveAgentConfig, checkAgentConfig } from '../../agent/index.js';
import {
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  CORRUPT_CODE,
  checkBody,
  EXIT_FIRMWARE_RESTART,
  FIRMWARE_FEATURE,
  FwPacket,
  isBundleId,
  parseFirmwarePacket,
} from '../../agent/firmware/index.js';
import { EXIT_FIRMWARE_RESTART as FIRMWARE_EXIT, FirmwareErrorCode } from '../../firmware/index.js';
import * as protocol from '../../protocol/index.js';

const ID = 'ab'.repeat(32);

test('repeated constants equal their originals', (t) => {
  t.is(EXIT_FIRMWARE_RESTART, FIRMWARE_EXIT);
  t.is(FIRMWARE_FEATURE, protocol.FIRMWARE_FEATURE);
  t.is(AGENT_FIRMWARE_MAX_CHUNK_BYTES, protocol.AGENT_FIRMWARE_MAX_CHUNK_BYTES);
  t.is(CORRUPT_CODE, FirmwareErrorCode.CORRUPT);
  t.deepEqual(FwPacket, {
    FWCHECK: protocol.PacketType.FWCHECK,
    FWOFFER: protocol.PacketType.FWOFFER,
    FWCHUNKREQ: protocol.PacketType.FWCHUNKREQ,
    FWCHUNK: protocol.PacketType.FWCHUNK,
  });
  for (const s of [ID, ID.toUpperCase(), ID.slice(1), `${ID}0`, 42, 'x'.repeat(64)]) {
    t.is(isBundleId(s), protocol.isBundleId(s), String(s));
  }
});

test('config: firmware defaults, OWL_FIRMWARE_ROOT, the file wins, one-line errors', (t) => {
  const saved = process.env['OWL_FIRMWARE_ROOT'];
  try {
    delete process.env['OWL_FIRMWARE_ROOT'];
    t.deepEqual(defaultAgentConfig().firmware, {
      keys: [],
      checkIntervalMs: 600_000,
      chunkBytes: AGENT_FIRMWARE_MAX_CHUNK_BYTES,
    });
    process.env['OWL_FIRMWARE_ROOT'] = '/opt/owl/agent';
    t.is(resolveAgentConfig([]).firmware.root, '/opt/owl/agent');
    const fromFile = resolveAgentConfig([{ firmware: { root: '/srv/slots', keys: ['/etc/owl/fw.pub'] } }]);
    t.like(fromFile.firmware, { root: '/srv/slots', keys: ['/etc/owl/fw.pub'], checkIntervalMs: 600_000 });
  } finally {
    if (saved === undefined) delete process.env['OWL_FIRMWARE_ROOT'];
    else process.env['OWL_FIRMWARE_ROOT'] = saved;
  }
  t.throws(() => checkAgentConfig({ firmware: { chunkByte: 1 } }, 'agent.json'), {
    message: 'agent.json: firmware.chunkByte: unknown key (did you mean chunkBytes?)',
  });
  t.throws(
    () => checkAgentConfig({ firmware: { chunkBytes: AGENT_FIRMWARE_MAX_CHUNK_BYTES + 1 } }, 'a.json'),
    {
      message: /firmware\.chunkBytes: must be an integer from 1024 to 196608/,
    },
  );
});

/** What the relay's full parser says of a body: accepted or not. */
function relayAccepts(type: number, body: unknown): boolean {
  try {
    protocol.defaultParser.parse({ type, body: Buffer.from(JSON.stringify(body)) });
    return true;
  } catch {
    return false;
  }
}

/** Codes of the agent's refusals, all of them OWL_ERR_* (checked below). */
const refusalCodes: string[] = [];

function agentAccepts(type: number, body: unknown): boolean {
  try {
    parseFirmwarePacket({ type, body: Buffer.from(JSON.stringify(body)) });
    return true;
  } catch (err) {
    refusalCodes.push((err as { code: string }).code);
    return false;
  }
}

test('FWOFFER and FWCHUNK: the agent accepts what the relay schemas accept, and refuses the rest', (t) => {
  const offers: unknown[] = [
    { bundle: null },
    { bundle: { id: ID, version: '1.2.3', size: 10 } },
    { bundle: { id: ID.toUpperCase(), version: '1.2.3', size: 10 } },
    { bundle: { id: ID, version: '', size: 10 } },
    { bundle: { id: ID, version: '1.2.3', size: 0 } },
    { bundle: { id: ID, version: '1.2.3', size: -1 } },
    { bundle: { id: ID, version: 'v'.repeat(65), size: 1 } },
    { bundle: 'x' },
    [],
  ];
  for (const body of offers) {
    t.is(agentAccepts(FwPacket.FWOFFER, body), relayAccepts(FwPacket.FWOFFER, body), JSON.stringify(body));
  }
  const chunks: unknown[] = [
    { id: 1, bundle: ID, offset: 0, data: 'AAAA' },
    { id: 1, bundle: ID, offset: 0, code: 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE', message: 'gone' },
    { id: -1, bundle: ID, offset: 0, data: 'AAAA' },
    { id: 1, bundle: 'x', offset: 0, data: 'AAAA' },
    { id: 1, bundle: ID, offset: 1.5, data: 'AAAA' },
    { id: 1, bundle: ID, offset: 0, data: 'A'.repeat((AGENT_FIRMWARE_MAX_CHUNK_BYTES / 3) * 4 + 4) },
  ];
  for (const body of chunks) {
    t.is(agentAccepts(FwPacket.FWCHUNK, body), relayAccepts(FwPacket.FWCHUNK, body), JSON.stringify(body));
  }
  // Stricter than the schema where a body would mean nothing: a chunk with neither data nor code.
  t.false(agentAccepts(FwPacket.FWCHUNK, { id: 1, bundle: ID, offset: 0 }));
  t.true(refusalCodes.length > 0 && refusalCodes.every((c) => c.startsWith('OWL_ERR_')));
});

test('FWCHECK body: the slots state, the trial, the last failure and refusal, as the relay schema wants', (t) => {
  const body = checkBody(
    {
      root: '/opt/owl/agent',
      version: '1.0.0',
      arch: 'amd64',
      slots: {
        root: '/opt/owl/agent',
        current: { slot: 'a', version: '1.0.0' },
        other: { slot: 'b', version: '1.1.0' },
        state: 'rolled-back',
        pending: null,
        lastFailure: {
          code: 'OWL_ERR_FIRMWARE_EXITED_AT_START',
          reason: 'exited at start',
          version: '1.1.0',
          previousVersion: '1.0.0',
          at: 5,
          starts: 2,
        },
      },
    },
    { bundle: ID, version: '1.2.0', bytes: 10, size: 20 },
    { bundle: ID, version: '1.1.5', code: FirmwareErrorCode.DOWNGRADE, message: 'old', at: 7 },
  );
  t.deepEqual(body, {
    program: 'owl-agent',
    arch: 'amd64',
    version: '1.0.0',
    state: 'rolled-back',
    download: { bundle: ID, version: '1.2.0', bytes: 10, size: 20 },
    lastFailure: {
      code: 'OWL_ERR_FIRMWARE_EXITED_AT_START',
      reason: 'exited at start',
      version: '1.1.0',
      at: 5,
    },
    refused: { bundle: ID, version: '1.1.5', code: FirmwareErrorCode.DOWNGRADE, message: 'old', at: 7 },
  });
  t.true(relayAccepts(FwPacket.FWCHECK, body));
  t.true(
    relayAccepts(
      FwPacket.FWCHECK,
      checkBody({ root: undefined, version: '0.1.0', arch: 'amd64', slots: undefined }, undefined, undefined),
    ),
  );
});
