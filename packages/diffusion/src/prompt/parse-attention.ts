import { PYTHON_WHITESPACE_CLASS, PYTHON_WORD_CLASS } from '../tokenizer/python-unicode.js';

/** A run of prompt text and the multiplier its token embeddings get. */
export interface WeightedText {
  text: string;
  weight: number;
}

/** `(text)` multiplies by this; `[text]` divides by it (A1111's `round_bracket_multiplier`). */
export const ATTENTION_MULTIPLIER = 1.1;

/** The weight A1111 gives its `BREAK` marker entries. */
const BREAK_WEIGHT = -1;

const WS = `[${PYTHON_WHITESPACE_CLASS}]`;

/**
 * `re_attention` of AUTOMATIC1111's modules/prompt_parser.py, alternative for alternative:
 * the escapes `\(` `\)` `\[` `\]` `\\`, a lone backslash, `(`, `[`, `:weight)`, `)`, `]`,
 * plain text, and a lone `:`. Python's `\d` is every Unicode decimal digit, hence `\p{Nd}`.
 */
const ATTENTION_TOKEN = new RegExp(
  [
    '\\\\\\(',
    '\\\\\\)',
    '\\\\\\[',
    '\\\\\\]',
    '\\\\\\\\',
    '\\\\',
    '\\(',
    '\\[',
    `:${WS}*([+-]?[.\\p{Nd}]+)${WS}*\\)`,
    '\\)',
    '\\]',
    '[^\\\\()\\[\\]:]+',
    ':',
  ].join('|'),
  'gu',
);

/** `re_break` (`\s*\bBREAK\b\s*`), with Python's Unicode `\s` and `\w` for the boundaries. */
const BREAK_SEPARATOR = new RegExp(`${WS}*(?<![${PYTHON_WORD_CLASS}])BREAK(?![${PYTHON_WORD_CLASS}])${WS}*`, 'u');

/** True for the entry that marks a `BREAK` (A1111 tests `text == 'BREAK' and weight == -1`). */
export function isBreak(part: WeightedText): boolean {
  return part.text === 'BREAK' && part.weight === BREAK_WEIGHT;
}

/**
 * AUTOMATIC1111's `parse_prompt_attention`: splits a prompt into runs of text with their
 * attention weights.
 *
 * - `(text)` ×1.1, `[text]` ÷1.1, `(text:1.5)` ×1.5; nesting multiplies.
 * - `\(` `\)` `\[` `\]` `\\` are literal characters; any other backslash is dropped.
 * - Brackets left open apply to the end of the prompt; unmatched closers are plain text.
 * - `BREAK` (a whole word, upper case) becomes the entry `{ text: 'BREAK', weight: -1 }`,
 *   which `isBreak` recognizes. As in A1111, brackets around a BREAK multiply its weight and
 *   it then reads as the plain word.
 * - Adjacent runs with equal weights are merged; an empty prompt gives `[{ text: '', weight: 1 }]`.
 *
 * One deviation: a weight that is not a number (`(a:1.2.3)`), which makes A1111 raise, is
 * kept as plain text here.
 */
export function parsePromptAttention(prompt: string): WeightedText[] {
  const result: WeightedText[] = [];
  const roundBrackets: number[] = [];
  const squareBrackets: number[] = [];

  const multiplyFrom = (start: number, multiplier: number): void => {
    for (let i = start; i < result.length; i++) result[i].weight *= multiplier;
  };
  /** Closes the innermost bracket of `stack` (the caller has checked one is open). */
  const closeInnermost = (stack: number[], multiplier: number): void => {
    const start = stack.pop();
    if (start !== undefined) multiplyFrom(start, multiplier);
  };

  for (const match of prompt.matchAll(ATTENTION_TOKEN)) {
    const token = match[0];
    const weight = match[1] === undefined ? undefined : parsePythonFloat(match[1]);

    if (token.startsWith('\\')) {
      result.push({ text: token.slice(1), weight: 1 });
    } else if (token === '(') {
      roundBrackets.push(result.length);
    } else if (token === '[') {
      squareBrackets.push(result.length);
    } else if (weight !== undefined && roundBrackets.length > 0) {
      closeInnermost(roundBrackets, weight);
    } else if (token === ')' && roundBrackets.length > 0) {
      closeInnermost(roundBrackets, ATTENTION_MULTIPLIER);
    } else if (token === ']' && squareBrackets.length > 0) {
      closeInnermost(squareBrackets, 1 / ATTENTION_MULTIPLIER);
    } else {
      token.split(BREAK_SEPARATOR).forEach((part, i) => {
        if (i > 0) result.push({ text: 'BREAK', weight: BREAK_WEIGHT });
        result.push({ text: part, weight: 1 });
      });
    }
  }

  // Open brackets close at the end: round ones first, each in the order it was opened.
  for (const start of roundBrackets) multiplyFrom(start, ATTENTION_MULTIPLIER);
  for (const start of squareBrackets) multiplyFrom(start, 1 / ATTENTION_MULTIPLIER);

  if (result.length === 0) result.push({ text: '', weight: 1 });

  for (let i = 0; i + 1 < result.length;) {
    if (result[i].weight === result[i + 1].weight) {
      result[i].text += result[i + 1].text;
      result.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return result;
}

/**
 * Python's `float()` on what `[+-]?[.\d]+` matched: any Unicode decimal digits, at most one
 * dot, at least one digit. Returns undefined where Python would raise.
 */
function parsePythonFloat(text: string): number | undefined {
  const ascii = text.replace(/\p{Nd}/gu, (digit) => String(decimalDigitValue(digit)));
  return /^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(ascii) ? Number(ascii) : undefined;
}

/** Unicode encodes every decimal digit set as a contiguous run 0…9, so count from the run start. */
function decimalDigitValue(digit: string): number {
  const cp = digit.codePointAt(0);
  if (cp === undefined) throw new RangeError('no digit'); // the regex matched one character: never empty
  let start = cp;
  while (/\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}
