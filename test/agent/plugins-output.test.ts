import test from 'ava';
import { parsePluginOutput, snippet } from '../../agent/plugins/index.js';

test('v3 flat object: each numeric key a sample', (t) => {
  const out = parsePluginOutput('{"TCP_CLOSE_WAIT": 46, "TCP_LISTEN": 46, "TCP_ESTABLISHED": 97}\n');
  t.deepEqual(out, {
    samples: [
      { metric: 'TCP_CLOSE_WAIT', value: 46 },
      { metric: 'TCP_LISTEN', value: 46 },
      { metric: 'TCP_ESTABLISHED', value: 97 },
    ],
    badItems: 0,
  });
});

test('non-numeric values are bad items; the other keys are kept', (t) => {
  const out = parsePluginOutput(
    '{"a": 1, "b": "2", "c": true, "d": null, "e": {}, "f": 1e400, "": 3, "g": -0.5}',
  );
  t.deepEqual(out.samples, [
    { metric: 'a', value: 1 },
    { metric: 'g', value: -0.5 },
  ]);
  t.is(out.badItems, 6);
  t.is(out.error, undefined);
});

test('array of richer samples: tags, data_type, timestamp in s or ms', (t) => {
  const out = parsePluginOutput(
    JSON.stringify([
      { metric: 'rx', value: 10, tags: { if: 'eth0' }, data_type: 'COUNTER', timestamp: 1_700_000_000.5 },
      { metric: 'up', value: 1, timestamp_ms: 1_700_000_000_123 },
      { metric: 'bad-type', value: 1, data_type: 'RATE' },
      { metric: 'bad-tags', value: 1, tags: { a: 1 } },
      { metric: 'both-times', value: 1, timestamp: 1, timestamp_ms: 1000 },
      { metric: 'string-time', value: 1, timestamp: '1700000000' },
      { value: 1 },
      'x',
      null,
    ]),
  );
  t.deepEqual(out.samples, [
    { metric: 'rx', value: 10, tags: { if: 'eth0' }, data_type: 'COUNTER', timestamp_ms: 1_700_000_000_500 },
    { metric: 'up', value: 1, timestamp_ms: 1_700_000_000_123 },
  ]);
  t.is(out.badItems, 7);
});

test('empty output: zero samples and a note, not an error', (t) => {
  t.deepEqual(parsePluginOutput(''), { samples: [], badItems: 0, note: 'no output' });
  t.deepEqual(parsePluginOutput(' \n\t'), { samples: [], badItems: 0, note: 'no output' });
});

test('garbage: an error with a short, escaped snippet', (t) => {
  const out = parsePluginOutput('Traceback (most recent call last):\n\u001b[31m  File "x"' + 'y'.repeat(500));
  t.is(out.error, 'output is not JSON');
  t.deepEqual(out.samples, []);
  t.true(out.snippet!.startsWith('Traceback (most recent call last):\\n\\u001b[31m'));
  t.true(out.snippet!.length < 160);
  t.false([...out.snippet!].some((c) => c.charCodeAt(0) < 0x20));
  t.is(parsePluginOutput('42').error, 'output is not a JSON object or array');
  t.is(parsePluginOutput('null').error, 'output is not a JSON object or array');
});

test('bounded: at most maxKeys samples, the rest counted', (t) => {
  const obj: Record<string, number> = {};
  for (let i = 0; i < 25; i++) obj[`k${i}`] = i;
  const out = parsePluginOutput(JSON.stringify(obj), 10);
  t.is(out.samples.length, 10);
  t.is(out.badItems, 15);
  const arr = parsePluginOutput(
    JSON.stringify(Object.entries(obj).map(([metric, value]) => ({ metric, value }))),
    10,
  );
  t.is(arr.samples.length, 10);
  t.is(arr.badItems, 15);
});

test('snippet escapes control characters and marks a cut', (t) => {
  t.is(snippet('a\tb\rc\u0000'), 'a\\tb\\rc\\u0000');
  t.is(snippet('x'.repeat(200), 5), 'xxxxx…');
});
