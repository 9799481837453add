/**
 * Character classes that reproduce Python's (3.x, `str`) definitions, so that text rules
 * ported from Python split and match exactly as they do upstream. JavaScript's `\s` and
 * `\w` differ from Python's (`\s` adds U+FEFF and lacks U+001C–U+001F and U+0085; `\w` is
 * ASCII-only), so ported code must use these instead.
 */

/**
 * The body of a regex character class matching exactly the characters for which Python's
 * `str.isspace()` is true, which is also what Python's `re` `\s` matches on `str`
 * (checked against CPython 3.11: 29 code points).
 */
export const PYTHON_WHITESPACE_CLASS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/**
 * The body of a regex character class matching Python's `re` `\w` on `str`: letters,
 * numbers (every `N*` category) and `_` (CPython: `isalnum() or c == '_'`). Needs the `u` flag.
 */
export const PYTHON_WORD_CLASS = '\\p{L}\\p{N}_';

const PYTHON_WHITESPACE_RUN = new RegExp(`[${PYTHON_WHITESPACE_CLASS}]+`, 'u');

/** Python's `str.split()` with no argument: split on whitespace runs, drop empty pieces. */
export function pythonSplitWhitespace(text: string): string[] {
  return text.split(PYTHON_WHITESPACE_RUN).filter((piece) => piece.length > 0);
}
