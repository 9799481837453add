/**
 * Textual inversion with diffusers' semantics (`load_textual_inversion` + `maybe_convert_prompt`):
 * a trigger with n vectors becomes the added tokens `trigger`, `trigger_1` … `trigger_{n-1}`,
 * numbered after the vocabulary in load order; a prompt naming the trigger has it expanded to
 * `trigger trigger_1 …`; the text encoder's token embedding gets the vectors as new rows. The
 * existing rows are copied byte for byte, so prompts without a trigger encode exactly as before.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataType, float32ToFloat16, readTensorBytes } from '@kiln/onnx';
import type { TensorProto } from '@kiln/onnx';
import { BytePairEncoder, ClipTokenizer, readClipTokenizerConfig } from '../tokenizer/index.js';
import { AssetError } from './asset-error.js';
import type { EmbeddingFile } from './embedding-file.js';
import type { InitializerPatches, ModelComponent } from './model-component.js';

export interface TextualInversionApplication {
  embedding: EmbeddingFile;
  /** The trigger word; defaults to the token recorded in the file. */
  trigger?: string;
}

export interface TextualInversionResult {
  tokenizer: ClipTokenizer;
  /** The token embedding initializer with the new rows appended. */
  patches: InitializerPatches;
  /** Added token → id, in order. */
  addedTokens: Map<string, number>;
}

/** A CLIP tokenizer that also expands textual-inversion triggers, as diffusers' `maybe_convert_prompt` does. */
class TextualInversionTokenizer extends ClipTokenizer {
  constructor(
    vocab: Record<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    config: Awaited<ReturnType<typeof readClipTokenizerConfig>>,
    private readonly added: ReadonlySet<string>,
  ) {
    super(vocab, merges, config);
  }

  override tokenize(text: string): string[] {
    return super.tokenize(this.expandTriggers(text));
  }

  /** diffusers replaces each added token found in the prompt (plain substring replace) by it and its `_i` siblings. */
  private expandTriggers(text: string): string {
    const present = [...new Set(super.tokenize(text).filter((symbol) => this.added.has(symbol)))];
    for (const token of present) {
      let replacement = token;
      for (let i = 1; this.added.has(`${token}_${i}`); i++) replacement += ` ${token}_${i}`;
      text = text.replaceAll(token, replacement);
    }
    return text;
  }
}

/** Builds the tokenizer and the text encoder patch for a set of embeddings, in order. */
export async function applyTextualInversions(
  tokenizerDir: string,
  textEncoder: ModelComponent,
  applications: readonly TextualInversionApplication[],
): Promise<TextualInversionResult> {
  const [vocabText, mergesText, config] = await Promise.all([
    readFile(join(tokenizerDir, 'vocab.json'), 'utf8'),
    readFile(join(tokenizerDir, 'merges.txt'), 'utf8'),
    readClipTokenizerConfig(tokenizerDir),
  ]);
  const vocab = JSON.parse(vocabText) as Record<string, number>;
  const table = tokenEmbedding(textEncoder);
  const [rows, dim] = table.dims ?? [];
  // len(tokenizer) in transformers: the vocabulary plus added tokens outside it.
  const ids = [...Object.values(vocab), ...config.extraTokens.map((token) => token.id ?? -1)];
  let nextId = ids.reduce((max, id) => Math.max(max, id), -1) + 1;
  if (rows !== nextId) {
    throw new AssetError(
      'invalid_model',
      `the token embedding has ${rows} rows but the tokenizer has ${nextId} tokens`,
    );
  }

  const addedTokens = new Map<string, number>();
  const vectors: Float32Array[] = [];
  for (const { embedding, trigger: given } of applications) {
    const trigger = given ?? embedding.token;
    if (!trigger || /\s/.test(trigger)) {
      throw new AssetError(
        'invalid_embedding',
        `needs a trigger word without spaces (got ${JSON.stringify(trigger ?? '')})`,
        embedding.name,
      );
    }
    if (embedding.dim !== dim) {
      throw new AssetError(
        'shape_mismatch',
        `vectors of width ${embedding.dim} do not fit the text encoder (${dim})`,
        embedding.name,
      );
    }
    for (let i = 0; i < embedding.vectors; i++) {
      const token = i === 0 ? trigger : `${trigger}_${i}`;
      if (token in vocab || addedTokens.has(token) || config.extraTokens.some((extra) => extra.content === token)) {
        throw new AssetError(
          'token_conflict',
          `token ${JSON.stringify(token)} is already in the tokenizer; choose another trigger`,
          embedding.name,
        );
      }
      addedTokens.set(token, nextId++);
      vectors.push(embedding.values.subarray(i * dim, (i + 1) * dim));
    }
  }

  const extraTokens = [...config.extraTokens, ...[...addedTokens].map(([content, id]) => ({ content, id }))];
  const tokenizer = new TextualInversionTokenizer(
    vocab,
    BytePairEncoder.parseMerges(mergesText),
    { ...config, extraTokens },
    new Set(addedTokens.keys()),
  );
  const patches: InitializerPatches = new Map();
  if (vectors.length > 0) patches.set(table.name ?? '', await appendRows(textEncoder, table, vectors));
  return { tokenizer, patches, addedTokens };
}

/** The initializer the `token_embedding` Gather reads. */
export function tokenEmbedding(textEncoder: ModelComponent): TensorProto {
  const graph = textEncoder.model.graph ?? {};
  const gather = (graph.node ?? []).find(
    (node) => node.opType === 'Gather' && /\/token_embedding\/Gather(_\d+)?$/.test(node.name ?? ''),
  );
  const table = (graph.initializer ?? []).find((tensor) => tensor.name === gather?.input?.[0]);
  if (!table || table.dims?.length !== 2) {
    throw new AssetError('invalid_model', `${textEncoder.path} has no token_embedding Gather over an initializer`);
  }
  return table;
}

async function appendRows(
  textEncoder: ModelComponent,
  table: TensorProto,
  vectors: Float32Array[],
): Promise<TensorProto> {
  const base = await readTensorBytes(textEncoder.path, table);
  const added = Float32Array.from(vectors.flatMap((vector) => [...vector]));
  let addedBytes: Uint8Array;
  if (table.dataType === DataType.FLOAT) addedBytes = new Uint8Array(added.buffer);
  else if (table.dataType === DataType.FLOAT16) addedBytes = new Uint8Array(float32ToFloat16(added).buffer);
  else
    throw new AssetError(
      'invalid_model',
      `token embedding has element type ${table.dataType}; expected float32 or float16`,
    );
  const rawData = new Uint8Array(base.byteLength + addedBytes.byteLength);
  rawData.set(base);
  rawData.set(addedBytes, base.byteLength);
  const [rows, dim] = table.dims as number[];
  return { name: table.name, dataType: table.dataType, dims: [rows + vectors.length, dim], rawData };
}
