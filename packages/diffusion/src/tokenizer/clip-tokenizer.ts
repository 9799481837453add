import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { basicTokenize } from './basic-tokenizer.js';
import { BytePairEncoder } from './byte-pair-encoder.js';
import { toByteLevel } from './byte-unicode-map.js';
import { splitOnSpecialTokens } from './special-token-splitter.js';
import { readClipTokenizerConfig, type ClipTokenizerConfig } from './tokenizer-config.js';

/**
 * CLIP's word pattern (`self.pat` in transformers' tokenization_clip.py, compiled there with
 * `regex` and IGNORECASE): the special tokens, English contractions, letter runs, single
 * digits, and runs of anything else that is not whitespace.
 */
const CLIP_WORD_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/**
 * The CLIP BPE tokenizer, giving exactly the ids of transformers' slow `CLIPTokenizer` as
 * diffusers runs it by default (without ftfy: the `BasicTokenizer` cleanup path).
 *
 * Written here rather than configured from `@huggingface/tokenizers`: that package's
 * `BertNormalizer` (the only one with this cleanup) walks UTF-16 units, so it never spaces
 * CJK ideographs outside the BMP, does not drop unassigned (`Cn`) characters, and has no NFC
 * step after the CJK spacing; the slow tokenizer also cuts special tokens out before any
 * cleanup. The byte-level BPE itself is small (byte-pair-encoder.ts).
 */
export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  /** Sequence length the text encoder takes, bos and eos included (77 for CLIP). */
  readonly maxLength: number;

  private readonly vocab: Map<string, number>;
  private readonly bpe: BytePairEncoder;
  private readonly specialTokens: string[];

  /**
   * @param vocab vocab.json (symbol → id)
   * @param merges the merge rules in rank order (see `BytePairEncoder.parseMerges`)
   * @param config special tokens and length (see `readClipTokenizerConfig`)
   */
  constructor(
    vocab: Readonly<Record<string, number>>,
    merges: ReadonlyArray<readonly [string, string]>,
    config: ClipTokenizerConfig,
  ) {
    this.vocab = new Map(Object.entries(vocab));
    for (const { content, id } of config.extraTokens) {
      if (id !== undefined && !this.vocab.has(content)) this.vocab.set(content, id);
    }
    // Upstream seeds its BPE cache with these two so they survive as single symbols.
    this.bpe = new BytePairEncoder(merges, new Set(['<|startoftext|>', '<|endoftext|>']));
    this.specialTokens = [
      config.bosToken,
      config.eosToken,
      config.unkToken,
      config.padToken,
      ...config.extraTokens.map((t) => t.content),
    ];
    this.unkId = this.requireId(config.unkToken, 'unk');
    this.bosId = this.requireId(config.bosToken, 'bos');
    this.eosId = this.requireId(config.eosToken, 'eos');
    this.padId = this.requireId(config.padToken, 'pad');
    this.maxLength = config.modelMaxLength;
  }

  /**
   * Loads a tokenizer folder (`vocab.json`, `merges.txt`, optional `tokenizer_config.json`
   * and `special_tokens_map.json`). `dir` may be that folder or a diffusers model folder,
   * in which case its `tokenizer/` subfolder is read.
   */
  static async fromDirectory(dir: string): Promise<ClipTokenizer> {
    const folder = (await exists(join(dir, 'vocab.json'))) ? dir : join(dir, 'tokenizer');
    const [vocabText, mergesText, config] = await Promise.all([
      readFile(join(folder, 'vocab.json'), 'utf8'),
      readFile(join(folder, 'merges.txt'), 'utf8'),
      readClipTokenizerConfig(folder),
    ]);
    return new ClipTokenizer(JSON.parse(vocabText), BytePairEncoder.parseMerges(mergesText), config);
  }

  /** The vocabulary symbols of a text (e.g. `['a</w>', 'cat</w>']`), without bos/eos. */
  tokenize(text: string): string[] {
    const symbols: string[] = [];
    for (const piece of splitOnSpecialTokens(text, this.specialTokens)) {
      if (piece.special) {
        symbols.push(piece.text);
        continue;
      }
      const cleaned = basicTokenize(piece.text).join(' ');
      for (const [word] of cleaned.matchAll(CLIP_WORD_PATTERN)) {
        symbols.push(...this.bpe.encodeWord(toByteLevel(word)));
      }
    }
    return symbols;
  }

  /** Token ids of a text, without bos/eos and without truncation. */
  encode(text: string): number[] {
    return this.tokenize(text).map((symbol) => this.vocab.get(symbol) ?? this.unkId);
  }

  /**
   * The `input_ids` diffusers feeds the text encoder (`padding="max_length"`,
   * `truncation=True`): `[bos] + ids[:maxLength-2] + [eos]`, then the pad token up to `maxLength`.
   */
  encodePadded(text: string): Int32Array {
    const content = this.encode(text).slice(0, this.maxLength - 2);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(content, 1);
    ids[content.length + 1] = this.eosId;
    return ids;
  }

  /** Id of a vocabulary symbol (`',</w>'`, `'<|endoftext|>'`), or undefined if absent. */
  tokenId(symbol: string): number | undefined {
    return this.vocab.get(symbol);
  }

  private requireId(token: string, role: string): number {
    const id = this.vocab.get(token);
    if (id === undefined)
      throw new Error(`CLIP tokenizer: ${role} token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
