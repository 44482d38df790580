import test from 'ava';
import fc from 'fast-check';
import { ArgsError, joinArgs, quoteArg, splitArgs } from '../../agent/plugins/index.js';

test('whitespace separates words; runs of it are one separator', (t) => {
  t.deepEqual(splitArgs('  -h  localhost\t-p 80\n'), ['-h', 'localhost', '-p', '80']);
  t.deepEqual(splitArgs(''), []);
  t.deepEqual(splitArgs('   '), []);
});

test('single quotes are literal, double quotes escape only $ ` " \\ and newline', (t) => {
  t.deepEqual(splitArgs(`'a b' '$HOME' 'x\\y'`), ['a b', '$HOME', 'x\\y']);
  t.deepEqual(splitArgs(`"a b" "say \\"hi\\"" "\\$x" "\\n" "c:\\\\d"`), [
    'a b',
    'say "hi"',
    '$x',
    '\\n',
    'c:\\d',
  ]);
  t.deepEqual(splitArgs(`"line\\\nnext"`), ['linenext']);
});

test('backslash outside quotes takes the next character; backslash-newline joins', (t) => {
  t.deepEqual(splitArgs('a\\ b c\\\\d \\"e'), ['a b', 'c\\d', '"e']);
  t.deepEqual(splitArgs('one\\\ntwo'), ['onetwo']);
});

test('quotes join adjacent text; empty quotes are an empty word', (t) => {
  t.deepEqual(splitArgs(`a'b'"c"d`), ['abcd']);
  t.deepEqual(splitArgs(`'' "" x`), ['', '', 'x']);
});

test('no shell: globs, variables and operators are plain characters', (t) => {
  t.deepEqual(splitArgs('* $HOME ~ a;b | > out && `id` $(id) #c'), [
    '*',
    '$HOME',
    '~',
    'a;b',
    '|',
    '>',
    'out',
    '&&',
    '`id`',
    '$(id)',
    '#c',
  ]);
});

test('an unterminated quote or a trailing backslash is a clear error', (t) => {
  t.throws(() => splitArgs(`-x 'abc`), { instanceOf: ArgsError, message: /unterminated single quote/ });
  t.throws(() => splitArgs(`-x "abc`), { instanceOf: ArgsError, message: /unterminated double quote/ });
  t.throws(() => splitArgs(`-x "abc\\"`), { instanceOf: ArgsError, message: /unterminated double quote/ });
  t.throws(() => splitArgs('abc\\'), { instanceOf: ArgsError, message: /trailing backslash/ });
});

test('quoteArg leaves safe words bare and quotes the rest', (t) => {
  t.is(quoteArg('--port=80'), '--port=80');
  t.is(quoteArg(''), "''");
  t.is(quoteArg("it's"), `'it'\\''s'`);
});

test('property: quote-then-split gives back any argv', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 8 }), (argv) => {
      t.deepEqual(splitArgs(joinArgs(argv)), argv);
    }),
    { numRuns: 2000 },
  );
});

test('property: words of safe characters joined by whitespace split back', (t) => {
  const word = fc.stringMatching(/^[A-Za-z0-9_.=-]{1,10}$/);
  const space = fc.constantFrom(' ', '\t', '\n', '  ');
  fc.assert(
    fc.property(fc.array(fc.tuple(word, space), { maxLength: 8 }), (parts) => {
      const text = parts.map(([w, s]) => w + s).join('');
      t.deepEqual(
        splitArgs(text),
        parts.map(([w]) => w),
      );
    }),
  );
});
