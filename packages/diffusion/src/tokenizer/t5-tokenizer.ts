/**
 * SD3's third tokenizer, T5's SentencePiece Unigram vocabulary, read from `tokenizer_3/tokenizer.json`
 * and run as `T5TokenizerFast` runs it in diffusers' StableDiffusion3Pipeline
 * (`padding="max_length", max_length=256, truncation=True`):
 *
 * special tokens cut out of the raw text → normalizer → Metaspace words → Unigram per word →
 * the first `max_length − 1` ids → the post-processor's `</s>` → padded with `<pad>`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metaspaceWords, normalizerStep, readMetaspace, type Metaspace, type TextStep } from './t5-text-steps.js';
import { UnigramModel } from './t5-unigram.js';

type Json = Record<string, unknown>;

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export class T5Tokenizer {
  readonly padId: number;
  /** Ids the post-processor appends to every text (`</s>` for T5). */
  readonly suffixIds: readonly number[];
  private readonly normalize: TextStep;
  private readonly metaspace: Metaspace;
  private readonly model: UnigramModel;
  private readonly added: AddedToken[];

  constructor(tokenizerJson: Json, config: Json = {}) {
    const model = tokenizerJson.model as Json;
    if (model?.type !== 'Unigram') {
      throw new Error(`tokenizer.json: model ${JSON.stringify(model?.type)} is not a Unigram model (T5's)`);
    }
    if (model.byte_fallback === true) throw new Error('tokenizer.json: Unigram byte_fallback is not supported');
    const vocab = model.vocab as Array<[string, number]>;
    this.added = ((tokenizerJson.added_tokens as AddedToken[]) ?? []).filter((t) => t.special);
    this.model = new UnigramModel(vocab, Number(model.unk_id ?? 2), new Set(this.added.map((t) => t.id)));
    this.normalize = normalizerStep(tokenizerJson.normalizer);
    this.metaspace = readMetaspace(tokenizerJson.pre_tokenizer);
    const idOf = (token: string) => {
      const id = vocab.findIndex(([piece]) => piece === token);
      if (id < 0) throw new Error(`tokenizer.json: token ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    };
    this.suffixIds = templateSuffix(tokenizerJson.post_processor);
    this.padId = idOf(tokenContent(config.pad_token) ?? '<pad>');
  }

  /** Reads `tokenizer.json` and the optional `tokenizer_config.json` of a tokenizer folder. */
  static async fromDirectory(dir: string): Promise<T5Tokenizer> {
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Json;
    let config: Json = {};
    try {
      config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Json;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return new T5Tokenizer(json, config);
  }

  /** Token ids of a text, without `</s>` and without truncation. */
  encode(text: string): number[] {
    const ids: number[] = [];
    splitOnAddedTokens(text, this.added).forEach((segment, i) => {
      if (typeof segment === 'number') {
        ids.push(segment);
        return;
      }
      for (const word of metaspaceWords(this.normalize(segment), this.metaspace, i === 0)) {
        ids.push(...this.model.encodeWord(word));
      }
    });
    return ids;
  }

  /** The `input_ids` diffusers feeds T5: `ids[:maxLength − 1] + [</s>]`, then `<pad>` up to `maxLength`. */
  encodePadded(text: string, maxLength: number): Int32Array {
    const content = this.encode(text).slice(0, Math.max(0, maxLength - this.suffixIds.length));
    const ids = new Int32Array(maxLength).fill(this.padId);
    ids.set([...content, ...this.suffixIds].slice(0, maxLength));
    return ids;
  }
}

/** Text segments between special tokens, and the special tokens' ids (they match before normalization). */
function splitOnAddedTokens(text: string, added: readonly AddedToken[]): Array<string | number> {
  let parts: Array<string | number> = [text];
  for (const token of added) {
    parts = parts.flatMap((part) => {
      if (typeof part === 'number' || !part.includes(token.content)) return [part];
      const pieces = part.split(token.content);
      return pieces.flatMap((p, i) => (i === 0 ? [p] : [token.id, p])).filter((p) => p !== '');
    });
  }
  return parts;
}

/** The ids a `TemplateProcessing` post-processor appends after `$A` for a single text. */
function templateSuffix(spec: unknown): number[] {
  const p = (spec ?? {}) as Json;
  if (!spec) return [];
  if (p.type !== 'TemplateProcessing') {
    throw new Error(`tokenizer.json: post_processor ${JSON.stringify(p.type)} is not supported by Kiln's T5 tokenizer`);
  }
  const single = p.single as Json[];
  const specials = (p.special_tokens ?? {}) as Record<string, { ids: number[] }>;
  const at = single.findIndex((item) => 'Sequence' in item);
  if (at !== 0) throw new Error('tokenizer.json: only templates of the form "$A <specials>" are supported');
  return single.slice(1).flatMap((item) => {
    const name = (item.SpecialToken as { id: string }).id;
    const ids = specials[name]?.ids;
    if (!ids) throw new Error(`tokenizer.json: template special token ${name} has no ids`);
    return ids;
  });
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json).content === 'string')
    return (value as Json).content as string;
  return undefined;
}
