/**
 * A service's `args` string split into argv the way a POSIX shell splits
 * words, with no shell: plugins are run with execve, so nothing is globbed,
 * no variable, command or tilde is expanded, and `; | & < > #` are ordinary
 * characters. v3 split on spaces, so an argument could not contain one.
 *
 * - Unquoted whitespace (space, tab, newline) separates words.
 * - Outside quotes a backslash takes the next character literally;
 *   backslash-newline is removed (a line continuation).
 * - '…' is literal up to the next single quote.
 * - "…": a backslash escapes only $ ` " \ and newline (which it removes);
 *   before any other character it stays.
 * - Quotes join with adjacent text (a'b'"c" is one word abc); '' or "" alone
 *   is an empty word.
 * - An unterminated quote or a trailing backslash throws ArgsError.
 */

export class ArgsError extends Error {
  override name = 'ArgsError';
}

const SPACE = new Set([' ', '\t', '\n']);
const DQ_ESCAPABLE = new Set(['$', '`', '"', '\\', '\n']);

export function splitArgs(input: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (SPACE.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new ArgsError(`unterminated single quote at offset ${i}`);
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const [text, next] = doubleQuoted(input, i);
      word += text;
      inWord = true;
      i = next;
    } else if (c === '\\') {
      if (i + 1 >= input.length) throw new ArgsError('trailing backslash');
      const n = input[i + 1]!;
      if (n !== '\n') {
        word += n;
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The text of the double-quoted string opening at `start`, and the offset after its closing quote. */
function doubleQuoted(input: string, start: number): [string, number] {
  let text = '';
  let i = start + 1;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '"') return [text, i + 1];
    if (c === '\\' && i + 1 < input.length && DQ_ESCAPABLE.has(input[i + 1]!)) {
      if (input[i + 1] !== '\n') text += input[i + 1];
      i += 2;
    } else {
      text += c;
      i++;
    }
  }
  throw new ArgsError(`unterminated double quote at offset ${start}`);
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One argument quoted so `splitArgs` (or a shell) gives it back unchanged: for logs and tests. */
export function quoteArg(arg: string): string {
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Arguments joined into one `args` string that `splitArgs` splits back into them. */
export function joinArgs(args: readonly string[]): string {
  return args.map(quoteArg).join(' ');
}
