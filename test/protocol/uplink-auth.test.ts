/** Authorization header helpers and close codes of the uplink transport. */
import test from 'ava';
import {
  closeCodeForHttpStatus,
  describeCloseCode,
  formatAuthHeader,
  parseAuthHeader,
  UPLINK_PATH,
  UplinkCloseCode,
  UplinkError,
  UplinkErrorCode,
} from '../../protocol/index.js';

test('format and parse round-trip; the first dot splits, tokens may hold dots', (t) => {
  const header = formatAuthHeader('zone-a_1', 'abc.DEF-123_~+/x==');
  t.is(header, 'Bearer zone-a_1.abc.DEF-123_~+/x==');
  t.deepEqual(parseAuthHeader(header), { relayId: 'zone-a_1', token: 'abc.DEF-123_~+/x==' });
  t.deepEqual(parseAuthHeader('  bearer   r.t  '), { relayId: 'r', token: 't' });
  t.deepEqual(parseAuthHeader('BEARER r.t'), { relayId: 'r', token: 't' });
  t.is(UPLINK_PATH, '/owl/v1/uplink');
});

test('malformed headers are OWL_ERR_UPLINK_BAD_AUTH', (t) => {
  const bad = [
    undefined,
    '',
    'Basic cjp0',
    'Bearer',
    'Bearer rt',
    'Bearer .token',
    'Bearer relay.',
    'Bearer re lay.token',
    'Bearer r.t extra',
    'Bearer r.t=x',
    'Bearer r!.t',
    `Bearer ${'r'.repeat(65)}.t`,
    `Bearer r.${'t'.repeat(1025)}`,
    `Bearer r.${'t'.repeat(100_000)}`,
    'Bearer r.tök',
  ];
  for (const value of bad) {
    const err = t.throws(() => parseAuthHeader(value), undefined, String(value).slice(0, 40));
    t.true(err instanceof UplinkError);
    t.is((err as UplinkError).code, UplinkErrorCode.BAD_AUTH);
  }
  t.throws(() => formatAuthHeader('a.b', 'token'), { instanceOf: UplinkError });
  t.throws(() => formatAuthHeader('a', 'to ken'), { instanceOf: UplinkError });
});

test('close codes carry their reconnect policy', (t) => {
  t.deepEqual(describeCloseCode(UplinkCloseCode.REPLACED), { name: 'REPLACED', reconnect: 'slow' });
  t.is(describeCloseCode(4400).reconnect, 'slow');
  t.is(describeCloseCode(4401).reconnect, 'slow');
  t.is(describeCloseCode(4403).reconnect, 'slow');
  t.is(describeCloseCode(4408).reconnect, 'backoff');
  t.is(describeCloseCode(4429).reconnect, 'backoff');
  t.is(describeCloseCode(4503).reconnect, 'backoff');
  t.deepEqual(describeCloseCode(1006), { name: 'CLOSE_1006', reconnect: 'backoff' });
});

test('HTTP refusals of the upgrade map to the same close codes', (t) => {
  t.is(closeCodeForHttpStatus(401), UplinkCloseCode.UNAUTHENTICATED);
  t.is(closeCodeForHttpStatus(403), UplinkCloseCode.FORBIDDEN);
  t.is(closeCodeForHttpStatus(409), UplinkCloseCode.REPLACED);
  t.is(closeCodeForHttpStatus(429), UplinkCloseCode.TOO_MANY_CONNECTIONS);
  t.is(closeCodeForHttpStatus(503), UplinkCloseCode.UNAVAILABLE);
  t.is(closeCodeForHttpStatus(502), UplinkCloseCode.UNAVAILABLE);
  t.is(closeCodeForHttpStatus(400), UplinkCloseCode.PROTOCOL_ERROR);
  t.is(closeCodeForHttpStatus(404), UplinkCloseCode.PROTOCOL_ERROR);
});
