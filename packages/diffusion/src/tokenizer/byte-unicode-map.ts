/**
 * GPT-2 / CLIP byte-level alphabet (`bytes_to_unicode` in openai/CLIP's simple_tokenizer.py
 * and transformers' tokenization_clip.py): each UTF-8 byte maps to one printable character,
 * so BPE can run on strings without whitespace or control characters. Printable Latin-1
 * bytes map to themselves; the other 68 bytes map to U+0100 onwards, in byte order.
 */
function buildByteToChar(): string[] {
  const isPrintable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(isPrintable(b) ? b : next++);
  }
  return table;
}

const BYTE_TO_CHAR = buildByteToChar();
const utf8 = new TextEncoder();

/** Maps a string's UTF-8 bytes to the byte-level alphabet, one character per byte. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) out += BYTE_TO_CHAR[byte];
  return out;
}
