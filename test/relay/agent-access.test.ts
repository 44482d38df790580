/**
 * Who may talk to the relay: HELLO-less (v3) agents only from `v3Allow` CIDRs,
 * v4 agents from anywhere with the zone token. A refused HELLO-less agent gets
 * ERROR OWL_ERR_NOT_ALLOWED (its first packet was never admitted, so it was
 * never a v3 session) and nothing it sent is spooled. Also over IPv6 (::1).
 */
import test from 'ava';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { encodePacket, ErrorCode, PacketType } from '../../protocol/index.js';
import { RelayErrorCode } from '../../relay/index.js';
import { RawPeer } from '../helpers/agent-peer.js';
import {
  agentErrorCount,
  exactlyOnceProblems,
  startRig,
  SteadyAgent,
  waitUpstream,
  ZONE_TOKEN,
} from '../helpers/agent-rig.js';

const heartbeat = (uuid: string): Buffer => encodePacket(PacketType.HOSTHB, { uuid });

test('v3Allow 127.0.0.2/32: HELLO-less agents only from 127.0.0.2; v4 with the zone token from anywhere', async (t) => {
  const { relay, receiver, port } = await startRig(t, { v3Allow: ['127.0.0.2/32'] });

  // HELLO-less from 127.0.0.1: refused on its first packet, which is not spooled.
  const outsider = await RawPeer.connect(port, { localAddress: '127.0.0.1' });
  await outsider.write(Buffer.concat([heartbeat('v3-outsider'), heartbeat('v3-outsider-2')]));
  await outsider.waitClosed();
  t.like(outsider.received, [{ type: PacketType.ERROR, body: { code: RelayErrorCode.NOT_ALLOWED } }]);
  t.is(outsider.received.length, 1);
  t.true(outsider.gotEnd);

  // A v3 agent from 127.0.0.3 (also outside the allowlist) sending samples: same.
  const outsider3 = await RawPeer.connect(port, { localAddress: '127.0.0.3' });
  await outsider3.write(
    encodePacket(PacketType.SERIESDATA, {
      uuid: 'v3-outsider-3',
      timestamp: 1_700_000_000,
      metric: 'm',
      value: 1,
    }),
  );
  await outsider3.waitClosed();
  t.like(outsider3.errors(), [{ code: RelayErrorCode.NOT_ALLOWED }]);

  // HELLO-less from 127.0.0.2: admitted as v3, its samples flow, it never gets a v4 packet.
  const insider = await SteadyAgent.open(port, 'v3', 'v3-insider', { localAddress: '127.0.0.2' });
  await insider.round(10);
  await insider.peer.write(heartbeat('v3-insider'));

  // v4 from 127.0.0.1 with the zone token: admitted.
  const v4 = await SteadyAgent.open(port, 'v4', 'v4-tokened', { localAddress: '127.0.0.1' });
  await v4.round(10);

  // v4 from 127.0.0.1 without a token or with a wrong one: refused.
  for (const token of [undefined, 'not-the-zone-token']) {
    const peer = await RawPeer.connect(port, { localAddress: '127.0.0.1' });
    await t.throwsAsync(peer.hello(token), { message: /no HELLO reply/ });
    t.like(peer.errors(), [{ code: ErrorCode.UNAUTHENTICATED }], `token ${String(token)}`);
    await peer.waitClosed();
  }

  const sent = [...insider.sent, ...v4.sent];
  await waitUpstream(receiver, sent);
  t.deepEqual(exactlyOnceProblems(receiver.records, sent, new Set(['v3-insider', 'v4-tokened'])), []);
  const uuids = new Set(receiver.records.map((r) => r.uuid));
  t.false(uuids.has('v3-outsider') || uuids.has('v3-outsider-2') || uuids.has('v3-outsider-3'));
  t.true(receiver.records.some((r) => r.type === PacketType.HOSTHB && r.uuid === 'v3-insider'));
  t.true(
    receiver.records.filter((r) => r.uuid === 'v3-insider').every((r) => r.src === '127.0.0.2'),
    'the insider is recorded with its source address',
  );
  t.is(insider.peer.bytesReceived, 0, 'a v3 agent never receives v4 packets');
  t.false(insider.peer.closed);
  t.false(v4.peer.closed);
  t.is(await agentErrorCount(relay, RelayErrorCode.NOT_ALLOWED), 2);
  t.is(await agentErrorCount(relay, ErrorCode.UNAUTHENTICATED), 2);
});

/** True when this host can listen on ::1. */
async function haveIPv6Loopback(): Promise<boolean> {
  const server = createServer();
  try {
    server.listen({ host: '::1', port: 0, ipv6Only: true });
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => Promise.reject(err as Error)),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

test('IPv6: a relay on ::1 admits a v3 agent from ::1 when ::1/128 is allowed, refuses it when not', async (t) => {
  if (!(await haveIPv6Loopback())) {
    t.log('::1 is not available here: skipped');
    t.pass();
    return;
  }
  const allowed = await startRig(t, { listen: [{ host: '::1', port: 0 }], v3Allow: ['::1/128'] });
  const agent = await SteadyAgent.open(allowed.port, 'v3', 'v3-over-ipv6', { host: '::1' });
  await agent.round(5);
  await waitUpstream(allowed.receiver, agent.sent);
  t.deepEqual(exactlyOnceProblems(allowed.receiver.records, agent.sent, new Set([agent.uuid])), []);
  t.true(allowed.receiver.records.every((r) => r.src === '::1'));
  t.false(agent.peer.closed);

  // IPv4 loopback allowed, ::1 not: the IPv6 agent is refused; a v4 agent over IPv6 is fine.
  const refusing = await startRig(t, { listen: [{ host: '::1', port: 0 }], v3Allow: ['127.0.0.0/8'] });
  const outsider = await RawPeer.connect(refusing.port, { host: '::1' });
  await outsider.write(heartbeat('v3-ipv6-outsider'));
  await outsider.waitClosed();
  t.like(outsider.errors(), [{ code: RelayErrorCode.NOT_ALLOWED }]);
  const v4 = await SteadyAgent.open(refusing.port, 'v4', 'v4-over-ipv6', { host: '::1', token: ZONE_TOKEN });
  await v4.round(3);
  await waitUpstream(refusing.receiver, v4.sent);
  t.false(refusing.receiver.records.some((r) => r.uuid === 'v3-ipv6-outsider'));
});
