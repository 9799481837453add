/** A piece of text: either ordinary text to tokenize, or one special token written literally. */
export interface TextPiece {
  text: string;
  special: boolean;
}

/**
 * Cuts the special tokens (bos/eos/unk/pad/additional) out of a text before any cleanup, as
 * transformers' `PreTrainedTokenizer.tokenize` does with its added-tokens trie: the leftmost
 * occurrence wins, and the longest token among those starting there. Matching is exact
 * (case-sensitive), and the pieces around a token are not stripped (CLIP's special tokens
 * have `lstrip`/`rstrip` false).
 */
export function splitOnSpecialTokens(text: string, specialTokens: readonly string[]): TextPiece[] {
  const tokens = [...new Set(specialTokens)].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
  const pieces: TextPiece[] = [];
  let start = 0;
  for (let i = 0; i < text.length;) {
    const token = tokens.find((t) => text.startsWith(t, i));
    if (token === undefined) {
      i++;
      continue;
    }
    if (i > start) pieces.push({ text: text.slice(start, i), special: false });
    pieces.push({ text: token, special: true });
    i += token.length;
    start = i;
  }
  if (start < text.length) pieces.push({ text: text.slice(start), special: false });
  return pieces;
}
