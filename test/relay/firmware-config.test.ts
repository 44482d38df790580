/** The relay's `firmware` config section: defaults, the root from env OWL_FIRMWARE_ROOT (the config wins), bad values named. */
import test from 'ava';
import { FIRMWARE_DEFAULT_CHUNK_BYTES } from '../../protocol/index.js';
import { resolveRelayConfig } from '../../relay/index.js';

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const before = process.env['OWL_FIRMWARE_ROOT'];
  if (value === undefined) delete process.env['OWL_FIRMWARE_ROOT'];
  else process.env['OWL_FIRMWARE_ROOT'] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env['OWL_FIRMWARE_ROOT'];
    else process.env['OWL_FIRMWARE_ROOT'] = before;
  }
}

test('defaults: no root, no keys, a quarter of the link, 256 KiB chunks, a 512 MiB cache', (t) => {
  const config = withEnv(undefined, () => resolveRelayConfig({}));
  t.deepEqual(config.firmware, {
    keys: [],
    share: 0.25,
    chunkBytes: FIRMWARE_DEFAULT_CHUNK_BYTES,
    maxCacheBytes: 512 * 1024 * 1024,
  });
});

test('the slot root comes from OWL_FIRMWARE_ROOT unless the config names one', (t) => {
  t.is(withEnv('/opt/owl/owl-relay', () => resolveRelayConfig({})).firmware.root, '/opt/owl/owl-relay');
  t.is(
    withEnv('/opt/owl/owl-relay', () => resolveRelayConfig({ firmware: { root: '/x' } })).firmware.root,
    '/x',
  );
  t.is(withEnv('', () => resolveRelayConfig({})).firmware.root, undefined);
});

test('bad values are refused naming the key', (t) => {
  t.throws(() => resolveRelayConfig({ firmware: { share: 0 } }), {
    message: /firmware\/share|firmware\.share/,
  });
  t.throws(() => resolveRelayConfig({ firmware: { chunkBytes: 2 * 1024 * 1024 } }), {
    message: /chunkBytes/,
  });
  t.throws(() => resolveRelayConfig({ firmware: { rooot: '/x' } as never }), { message: /rooot/ });
});
