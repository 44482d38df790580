/**
 * CSV as MySQL, PostgreSQL and spreadsheet exports write it (RFC 4180): a
 * header row, comma separated, fields optionally in double quotes with `""`
 * for a quote, line breaks inside quotes kept, CRLF or LF. Pure; used by the
 * v3 import (import-v3.ts).
 */

export class CsvError extends Error {
  /** @param where `line N` (of the text) or `record N` (the header is record 1). */
  constructor(message: string, where: string) {
    super(`${where}: ${message}`);
    this.name = 'CsvError';
  }
}

/** The rows of `text` (a leading UTF-8 BOM is skipped); a blank line is no row. */
export function parseCsvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  /** The current field started with a quote (then only a separator may follow its closing quote). */
  let wasQuoted = false;
  let line = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = (): void => {
    row.push(field);
    if (!(row.length === 1 && row[0] === '' && !wasQuoted)) rows.push(row);
    row = [];
    field = '';
    wasQuoted = false;
  };
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      if (field !== '' || wasQuoted) throw new CsvError('a quote inside an unquoted field', `line ${line}`);
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      wasQuoted = false;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
    } else {
      if (wasQuoted) throw new CsvError('text after a closing quote', `line ${line}`);
      field += c;
    }
  }
  if (quoted) throw new CsvError('a quoted field is not closed', `line ${line}`);
  if (field !== '' || row.length > 0 || wasQuoted) endRow();
  return rows;
}

/**
 * The records of a CSV with a header row, as objects keyed by column name (lower-cased,
 * trimmed). A row with a different number of fields than the header is an error.
 */
export function parseCsv(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsvRows(text);
  if (header === undefined) return [];
  const names = header.map((h) => h.trim().toLowerCase());
  return rows.map((fields, i) => {
    if (fields.length !== names.length)
      throw new CsvError(`${fields.length} fields, the header has ${names.length}`, `record ${i + 2}`);
    const record: Record<string, string> = {};
    names.forEach((name, j) => (record[name] = fields[j] as string));
    return record;
  });
}
