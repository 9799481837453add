import { pythonSplitWhitespace } from './python-unicode.js';

/**
 * Text cleanup of transformers' slow `CLIPTokenizer` when ftfy is not installed (diffusers'
 * default install): `BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize`
 * from transformers' tokenization_clip.py (a copy of BERT's). Steps, in upstream order:
 * drop NUL, U+FFFD and every `C*` (control/format/unassigned/surrogate/private) character
 * except tab/newline/CR; turn those and `Zs` spaces into ' '; put spaces around CJK
 * ideographs; NFC-normalize; split on Python whitespace; lower-case each word.
 *
 * @returns the words; the CLIP tokenizer joins them with single spaces.
 */
export function basicTokenize(text: string): string[] {
  const spaced = spaceCjkIdeographs(cleanText(text)).normalize('NFC');
  // Lower-case per word, as upstream does: `toLowerCase` and Python's `str.lower` both apply
  // Unicode's full lower-case mapping, including the word-final sigma rule.
  const words = pythonSplitWhitespace(spaced).map((word) => word.toLowerCase());
  return pythonSplitWhitespace(words.join(' '));
}

const OTHER_CATEGORY = /^\p{C}$/u;
const SPACE_SEPARATOR = /^\p{Zs}$/u;

/** The code point of a character that `for…of` yielded (never empty, so never undefined). */
function codePoint(ch: string): number {
  const cp = ch.codePointAt(0);
  if (cp === undefined) throw new RangeError('empty character');
  return cp;
}

/** `BasicTokenizer._clean_text` with transformers' `_is_control` / `_is_whitespace`. */
function cleanText(text: string): string {
  let out = '';
  // for...of walks code points (a lone surrogate comes out alone and is category Cs).
  for (const ch of text) {
    const cp = codePoint(ch);
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    out += isWhitespace(ch) ? ' ' : ch;
  }
  return out;
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return OTHER_CATEGORY.test(ch);
}

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || SPACE_SEPARATOR.test(ch);
}

/** `BasicTokenizer._tokenize_chinese_chars`: code-point ranges of the CJK ideograph blocks. */
function spaceCjkIdeographs(text: string): string {
  let out = '';
  for (const ch of text) {
    out += isCjkIdeograph(codePoint(ch)) ? ` ${ch} ` : ch;
  }
  return out;
}

function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}
