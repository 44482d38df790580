import test from 'ava';
import { relayProcessSettings, resolveRelayConfig } from '../../relay/index.js';

const config = (memory: object = {}) => resolveRelayConfig({ memory });

test('the default config asks for a 2 MiB semi-space and 2 malloc arenas', (t) => {
  t.deepEqual(relayProcessSettings(config(), [], {}), {
    nodeFlags: ['--max-semi-space-size=2'],
    env: { MALLOC_ARENA_MAX: '2' },
  });
});

test('what the operator gave wins: node flags, NODE_OPTIONS, MALLOC_ARENA_MAX; 0 asks for nothing', (t) => {
  t.deepEqual(relayProcessSettings(config(), ['--max-semi-space-size=16'], { MALLOC_ARENA_MAX: '8' }), {
    nodeFlags: [],
    env: {},
  });
  t.deepEqual(relayProcessSettings(config(), [], { NODE_OPTIONS: '--max-semi-space-size=1 --trace-gc' }), {
    nodeFlags: [],
    env: { MALLOC_ARENA_MAX: '2' },
  });
  t.deepEqual(relayProcessSettings(config({ semiSpaceMiB: 0, mallocArenas: 0 }), [], {}), {
    nodeFlags: [],
    env: {},
  });
  t.deepEqual(relayProcessSettings(config({ semiSpaceMiB: 8 }), [], {}).nodeFlags, [
    '--max-semi-space-size=8',
  ]);
});

test('memory knobs are validated', (t) => {
  t.throws(() => resolveRelayConfig({ memory: { ingestBytes: 10 } }), { message: /ingestBytes/ });
  t.throws(() => resolveRelayConfig({ memory: { bogus: 1 } as object }), { message: /memory/ });
});
