/** Marks the last symbol of a word in CLIP's vocabulary (`cat</w>` vs the prefix `cat`). */
export const END_OF_WORD = '</w>';

/** CLIP keeps only the first 49152 − 256 − 2 merges of merges.txt (after its header line). */
export const CLIP_MERGE_LIMIT = 49152 - 256 - 2;

/** Words cached before the cache is cleared, so a long-running server cannot grow it forever. */
const CACHE_LIMIT = 100_000;

/**
 * Byte-pair encoding of single words, as `CLIPTokenizer.bpe` in transformers' tokenization_clip.py:
 * the word's last symbol carries `</w>`, then the lowest-ranked adjacent pair is merged
 * everywhere (left to right, non-overlapping) until no ranked pair is left. Results are cached
 * per word because prompts repeat the same words.
 */
export class BytePairEncoder {
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  /**
   * @param merges merge rules in rank order, each `[left, right]`
   * @param preserved words returned whole, never split (upstream seeds its cache with the
   *   special tokens so that `<|endoftext|>` in text stays one symbol)
   */
  constructor(
    merges: ReadonlyArray<readonly [string, string]>,
    private readonly preserved: ReadonlySet<string> = new Set(),
  ) {
    this.ranks = new Map(merges.map(([left, right], rank) => [pairKey(left, right), rank]));
  }

  /**
   * Parses merges.txt as transformers does: strip the file, split lines, skip the first line
   * (the `#version` header), keep at most `limit` rules, split each on whitespace.
   */
  static parseMerges(text: string, limit = CLIP_MERGE_LIMIT): Array<[string, string]> {
    const lines = text
      .replace(/\r\n?/g, '\n')
      .trim()
      .split('\n')
      .slice(1, 1 + limit);
    return lines.map((line, index) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== 2) throw new Error(`merges.txt line ${index + 2} is not a pair: ${JSON.stringify(line)}`);
      return [parts[0], parts[1]];
    });
  }

  /** Splits one byte-level word into vocabulary symbols. */
  encodeWord(word: string): string[] {
    if (this.preserved.has(word)) return [word];
    const cached = this.cache.get(word);
    if (cached) return cached;
    const symbols = this.merge(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }

  private merge(word: string): string[] {
    const chars = Array.from(word);
    let symbols = [...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD];
    while (symbols.length > 1) {
      const best = this.lowestRankedPair(symbols);
      if (best === undefined) break;
      const [first, second] = best;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length;) {
        if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(symbols[i]);
          i += 1;
        }
      }
      symbols = merged;
    }
    return symbols;
  }

  private lowestRankedPair(symbols: readonly string[]): [string, string] | undefined {
    let bestRank = Infinity;
    let best: [string, string] | undefined;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = this.ranks.get(pairKey(symbols[i], symbols[i + 1]));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = [symbols[i], symbols[i + 1]];
      }
    }
    return best;
  }
}

// Symbols never contain a space (merges.txt is space-separated), so ' ' is a safe separator.
function pairKey(left: string, right: string): string {
  return `${left} ${right}`;
}
